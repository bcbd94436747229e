"""`rlgen serve`: a local web page and JSON API over run directories.

    rlgen serve runs/                       # every run under runs/, at http://127.0.0.1:8000
    rlgen serve runs/ttt runs/cgan --port 8001

The page (rlgen/static/index.html, no build step, no CDN) lists the runs, plays board
games against game runs (the agent's move probabilities as a heat map, its value) and
draws images from generative runs. Under it, the API:

    GET  /api/runs                     the runs: algo, env / data, status, start, summary metrics
    GET  /api/runs/{id}                config, summary, media files, what the run can do
    GET  /api/runs/{id}/metrics        metrics.jsonl as series {key: [[step, value], ...]}
    GET  /api/runs/{id}/media/{file}   a file of the run's media/
    POST /api/runs/{id}/move           {"moves": [...], "simulations": N} -> the agent's reply
                                       ("reply": false: the position alone, e.g. for an undo)
    POST /api/runs/{id}/sample         {"condition": C, "n": N, "seed": S} -> image/png grid
                                       (image-to-image: {"image": base64 PNG of the input size};
                                       "interpolate": K: rows of K images along latent paths)
    GET  /api/runs/{id}/example-input  image-to-image: a dev-split input (PNG), to start from

Runs are found when the server starts (and again on GET /api/runs); a request names a run
by its id, never by a path, so nothing outside the served runs can be read. Models load
once per run (the best checkpoint, else the last complete one) and serve one request at a
time each; bad requests get a 4xx with {"error": "..."} saying what was wrong.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.errors import ConfigError, RlgenError
from rlgen.extras import require

MAX_BODY_BYTES = 1 << 20
"""Largest request body accepted (413 beyond)."""
MAX_SAMPLES = 64
"""Most images one /sample request may ask for."""
MAX_INTERPOLATION_STEPS = 16
"""Most images along one latent path of an /sample interpolation."""
MAX_SIMULATIONS = 4096
"""Most search simulations one /move request may ask for."""
STATIC = Path(__file__).parent / "static"
GENERATIVE = ("gan", "cgan", "vae", "cvae", "pix2pix")


class RequestError(Exception):
    """A bad request: its HTTP status and the message the client gets."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# ----------------------------------------------------------------------------- runs


def find_runs(roots: list[Path]) -> dict[str, Path]:
    """id -> run directory for every run (a folder with config.yaml) given or one or two
    levels under a given folder; ids are the paths below their root (a root that is itself
    a run: its name)."""
    runs: dict[str, Path] = {}
    for root in roots:
        root = root.resolve()
        if (root / "config.yaml").is_file():
            candidates = [(root.name, root)]
        else:
            found = sorted({p.parent for p in [*root.glob("*/config.yaml"), *root.glob("*/*/config.yaml")]})
            candidates = [(p.relative_to(root).as_posix(), p) for p in found]
        for run_id, path in candidates:
            unique, n = run_id, 2
            while unique in runs and runs[unique] != path:
                unique, n = f"{run_id}~{n}", n + 1
            runs[unique] = path
    return runs


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_summary(run_id: str, path: Path) -> dict[str, Any]:
    """One row of the runs table."""
    import yaml

    try:
        config = yaml.safe_load((path / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    summary = _read_json(path / "summary.json")
    algo = str(config.get("algo", "?"))
    scalars = {k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and "/" in k}
    return {
        "id": run_id,
        "algo": algo,
        "input": config.get("env") or config.get("data") or "",
        "status": summary.get("status", "unknown"),
        "started": _started(path),
        "step": summary.get("step"),
        "metrics": dict(sorted(scalars.items(), key=lambda kv: (not kv[0].startswith("eval/"), kv[0]))[:12]),
        "kind": run_kind(algo, config),
    }


def _started(path: Path) -> str:
    """When the run started: its config.yaml's modification time, ISO 8601 (UTC)."""
    import datetime

    try:
        stamp = (path / "config.yaml").stat().st_mtime
    except OSError:
        return ""
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).isoformat(timespec="seconds")


def run_kind(algo: str, config: dict[str, Any]) -> str:
    """'game' (playable), 'generate' (samplable) or 'other'."""
    from rlgen.envs.game import GAMES
    from rlgen.envs.gym_games import GYM_IDS

    env = config.get("env")
    if algo in GENERATIVE:
        return "generate"
    if env in GAMES or env in GYM_IDS:
        return "game"
    return "other"


def metric_series(path: Path) -> dict[str, list[list[float]]]:
    """metrics.jsonl as {key: [[step, value], ...]} (a last line still being written is skipped)."""
    series: dict[str, list[list[float]]] = {}
    try:
        lines = (path / "metrics.jsonl").read_text().splitlines()
    except OSError:
        return series
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        step = record.get("step")
        for key, value in record.items():
            if key not in ("step", "time") and isinstance(value, (int, float)) and not isinstance(value, bool):
                series.setdefault(key, []).append([step, value])
    return series


# ----------------------------------------------------------------------------- models


def _checkpoint(path: Path) -> str:
    """The best checkpoint, else the last complete one (a run still training)."""
    if (path / "checkpoints" / "best.pt").is_file():
        return "best"
    if (path / "checkpoints" / "last.pt").is_file():
        return "last"
    raise RequestError(409, f"run '{path.name}' has no checkpoint yet; wait for its first one")


class GameSession:
    """A game run's agent and its game: `reply(moves, simulations)` plays the moves from the
    start and answers with the agent's move, its move probabilities and value."""

    def __init__(self, path: Path) -> None:
        from rlgen.agents import load_agent
        from rlgen.agents.play import planes_of
        from rlgen.envs.game import GAMES, make_game
        from rlgen.envs.gym_games import GYM_IDS
        from rlgen.run import read_config

        _, config = read_config(path)
        env = config.env
        self.game = make_game(env if env in GAMES else GYM_IDS[env])
        self.agent = load_agent(path, checkpoint=_checkpoint(path))
        self._planes = planes_of

    def info(self) -> dict[str, Any]:
        game = self.game
        columns = game.num_actions == game.width  # Connect Four: a move is a column
        return {
            "name": game.name,
            "height": game.height,
            "width": game.width,
            "actions": game.num_actions,
            "moves_by": "column" if columns else "cell",
            "pass_action": game.pass_action,
            "searches": hasattr(self.agent, "mcts"),
        }

    def position(self, moves: list[int]) -> Any:
        """The state after `moves` from the start, or a 400 naming the first illegal one."""
        game, state = self.game, self.game.initial(1)
        for k, move in enumerate(moves):
            legal = np.flatnonzero(game.legal_mask(state)[0]).tolist()
            if state.done[0]:
                raise RequestError(400, f"move {k + 1} ({move}) comes after the game ended")
            if move not in legal:
                raise RequestError(400, f"move {k + 1} ({move}) is illegal here; legal moves: {legal}")
            state = game.step(state, np.array([move]))
        return state

    def describe(self, state: Any, moves: list[int]) -> dict[str, Any]:
        done = bool(state.done[0])
        return {
            "moves": moves,
            "board": state.board[0].tolist(),
            "to_play": int(state.to_play[0]),
            "legal": [] if done else np.flatnonzero(self.game.legal_mask(state)[0]).tolist(),
            "done": done,
            "winner": int(state.winner[0]) if done else None,
            "text": [self.game.action_to_text(m) for m in moves],
        }

    def reply(self, moves: list[int], simulations: int | None, answer: bool = True) -> dict[str, Any]:
        state = self.position(moves)
        if state.done[0] or not answer:
            return {**self.describe(state, moves), "move": None, "policy": None, "value": None}
        policy = value = None
        if hasattr(self.agent, "search"):  # AlphaZero, Q-learning: the search's statistics
            kwargs = {"simulations": simulations} if simulations and hasattr(self.agent, "mcts") else {}
            result = self.agent.search(state, **kwargs)
            move = int(result.best_actions()[0])
            visits = np.asarray(result.visits[0], np.float64)
            policy = (visits / max(visits.sum(), 1e-12)).tolist()
            value = float(result.value[0])
        else:  # DQN / PPO / SB3 on the gym game envs
            move = int(self.agent.act(self._planes(state), self.game.legal_mask(state)[0]))
        after = self.game.step(state, np.array([move]))
        return {**self.describe(after, [*moves, move]), "move": move, "policy": policy, "value": value}


class SampleSession:
    """A generative run's sampler: `png(condition, n, seed)` -> PNG bytes of a grid."""

    def __init__(self, path: Path) -> None:
        from rlgen.generative import load_generator

        self.generator = load_generator(path, checkpoint=_checkpoint(path))

    def info(self) -> dict[str, Any]:
        spec = self.generator.spec
        info = {
            "condition": self.generator.condition_kind,
            "accepts": self.generator.accepts,
            "classes": list(spec.classes),
            "factors": {k: list(v) for k, v in spec.factors.items()},
            "vocab": list(spec.vocab),
            "examples": list(spec.grid_captions[:5]),
            "interpolates": self.generator.condition_kind != "image",
        }
        if self.generator.condition_kind == "image":
            info["input_shape"] = list(self.generator.algorithm.input_shape)
        return info

    def png(self, condition: Any, n: int, seed: int | None, interpolate: int = 0) -> bytes:
        """A grid of n samples, or (interpolate=K) n // K rows of K images along latent paths."""
        from rlgen.generative.base import grid_image

        if interpolate:
            rows = max(1, n // interpolate)
            images = self.generator.interpolate(steps=interpolate, rows=rows, condition=condition, seed=seed)
            return _png(grid_image(images, columns=interpolate))
        images = self.generator.sample(n, condition=condition, seed=seed)
        return _png(grid_image(images, columns=min(8, n)))

    def example_input(self) -> bytes:
        """A dev-split input of an image-to-image model, as PNG: a start for the page's canvas."""
        from PIL import Image

        from rlgen.tracking import to_uint8_image

        if self.generator.condition_kind != "image":
            raise RequestError(400, "this model takes no input image")
        source, _, _ = self.generator.algorithm.translate("dev", 1)
        return _png(Image.fromarray(to_uint8_image(source[0])))

    def image_condition(self, data_url: Any) -> Any:
        """A base64 PNG / JPEG (a data: URL or bare) -> the model's [C, H, W] input in [0, 1]."""
        import base64
        import binascii

        import torch
        from PIL import Image, UnidentifiedImageError

        if self.generator.condition_kind != "image":
            raise RequestError(400, "'image' is for image-to-image models; this one takes " + self.generator.accepts)
        if not isinstance(data_url, str):
            raise RequestError(400, "'image' must be a base64 PNG or JPEG (a data: URL or the bare base64)")
        try:
            raw = base64.b64decode(data_url.split(",", 1)[-1], validate=True)
            image = Image.open(io.BytesIO(raw))
            image.load()
        except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as exc:
            raise RequestError(400, f"'image' is not a readable PNG / JPEG image ({type(exc).__name__})") from None
        channels, height, width = self.generator.algorithm.input_shape
        if image.size != (width, height):
            raise RequestError(400, f"the image is {image.size[0]}x{image.size[1]}; this model takes {width}x{height}")
        array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
        return torch.from_numpy(array.reshape(height, width, channels)).permute(2, 0, 1)


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Sessions:
    """One loaded model per run, each behind its own lock (requests run in a thread pool)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[Any, threading.Lock]] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str, make: Callable[[], Any]) -> tuple[Any, threading.Lock]:
        with self._lock:
            if run_id not in self._items:
                self._items[run_id] = (make(), threading.Lock())
            return self._items[run_id]


# ----------------------------------------------------------------------------- app


def create_app(roots: list[str | Path]) -> Any:
    """The Starlette app serving the runs found under `roots`."""
    require("starlette", "serve", "rlgen serve")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    paths = [Path(r) for r in roots]
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        raise ConfigError(f"rlgen serve: no such folder: {', '.join(missing)} (give run folders or a runs/ folder)")
    state = {"runs": find_runs(paths)}
    sessions = Sessions()

    def run_path(run_id: str) -> Path:
        if run_id not in state["runs"]:
            state["runs"] = find_runs(paths)  # a run started after the server
        if run_id not in state["runs"]:
            raise RequestError(404, f"unknown run '{run_id}'; runs served: {sorted(state['runs'])[:20]}")
        return state["runs"][run_id]

    def session(run_id: str, kind: str) -> tuple[Any, threading.Lock]:
        path = run_path(run_id)
        have = run_summary(run_id, path)["kind"]
        if have != kind:
            what = {"game": "plays board games", "generate": "draws images"}[kind]
            raise RequestError(400, f"run '{run_id}' ({have}) cannot do that: this endpoint {what}")
        make = GameSession if kind == "game" else SampleSession
        return sessions.get(run_id, lambda: make(path))

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise RequestError(413, f"request body of {len(raw)} bytes; at most {MAX_BODY_BYTES}")
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise RequestError(400, f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise RequestError(400, "the body must be a JSON object")
        return data

    def handle(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapped(request: Request) -> Response:
            try:
                return await endpoint(request)
            except RequestError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)
            except RlgenError as exc:  # the lab's own message: illegal move, unknown word, bad condition
                return JSONResponse({"error": str(exc)}, status_code=400)

        return wrapped

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def runs(request: Request) -> Response:
        state["runs"] = find_runs(paths)
        return JSONResponse({"runs": [run_summary(i, p) for i, p in state["runs"].items()]})

    async def run_detail(request: Request) -> Response:
        import yaml

        run_id = request.path_params["run_id"]
        path = run_path(run_id)
        media = path / "media"
        files = (
            sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file()) if media.is_dir() else []
        )
        detail = {
            **run_summary(run_id, path),
            "config": yaml.safe_load((path / "config.yaml").read_text()),
            "summary": _read_json(path / "summary.json"),
            "media": files,
        }
        kind = detail["kind"]
        if kind in ("game", "generate"):
            item, lock = session(run_id, kind)
            with lock:
                detail[kind] = item.info()
        return JSONResponse(detail)

    async def metrics(request: Request) -> Response:
        return JSONResponse({"series": metric_series(run_path(request.path_params["run_id"]))})

    async def media_file(request: Request) -> Response:
        media = (run_path(request.path_params["run_id"]) / "media").resolve()
        target = (media / request.path_params["name"]).resolve()
        if not target.is_relative_to(media) or not target.is_file():
            raise RequestError(404, f"no media file '{request.path_params['name']}' in this run")
        return FileResponse(target)

    async def move(request: Request) -> Response:
        data = await body(request)
        moves, simulations, answer = data.get("moves", []), data.get("simulations"), data.get("reply", True)
        if not isinstance(moves, list) or not all(isinstance(m, int) and not isinstance(m, bool) for m in moves):
            raise RequestError(400, f"'moves' must be a list of move numbers, got {moves!r}")
        if simulations is not None and (not isinstance(simulations, int) or not 1 <= simulations <= MAX_SIMULATIONS):
            raise RequestError(
                400, f"'simulations' must be a whole number in 1..{MAX_SIMULATIONS}, got {simulations!r}"
            )
        item, lock = session(request.path_params["run_id"], "game")
        with lock:
            return JSONResponse(item.reply(moves, simulations, answer=bool(answer)))

    async def sample(request: Request) -> Response:
        data = await body(request)
        n, seed, condition = data.get("n", 16), data.get("seed"), data.get("condition")
        if not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
            raise RequestError(400, f"'n' must be a whole number in 1..{MAX_SAMPLES}, got {n!r}")
        if seed is not None and not isinstance(seed, int):
            raise RequestError(400, f"'seed' must be a whole number, got {seed!r}")
        steps = data.get("interpolate", 0)
        if steps is False or steps is None:
            steps = 0
        if isinstance(steps, bool) or not isinstance(steps, int) or steps and not 2 <= steps <= MAX_INTERPOLATION_STEPS:
            raise RequestError(
                400,
                f"'interpolate' must be 0 (samples) or images per path 2..{MAX_INTERPOLATION_STEPS}, got {steps!r}",
            )
        item, lock = session(request.path_params["run_id"], "generate")
        with lock:
            if "image" in data:
                condition = item.image_condition(data["image"])
            png = item.png(condition, n, seed, interpolate=steps)
        return Response(png, media_type="image/png")

    async def example_input(request: Request) -> Response:
        item, lock = session(request.path_params["run_id"], "generate")
        with lock:
            return Response(item.example_input(), media_type="image/png")

    routes = [
        Route("/", index),
        Route("/api/runs", handle(runs)),
        Route("/api/runs/{run_id:path}/metrics", handle(metrics)),
        Route("/api/runs/{run_id:path}/media/{name:path}", handle(media_file)),
        Route("/api/runs/{run_id:path}/move", handle(move), methods=["POST"]),
        Route("/api/runs/{run_id:path}/sample", handle(sample), methods=["POST"]),
        Route("/api/runs/{run_id:path}/example-input", handle(example_input)),
        Route("/api/runs/{run_id:path}", handle(run_detail)),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)


def serve(roots: list[str | Path], host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app with uvicorn until Ctrl-C."""
    app = create_app(roots)
    uvicorn = require("uvicorn", "serve", "rlgen serve")
    print(f"rlgen serve: open http://{host}:{port}/ ({len(find_runs([Path(r) for r in roots]))} runs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
