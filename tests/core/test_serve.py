"""`rlgen serve` (rlgen/serve.py): the JSON API over real runs (an AlphaZero and a
Q-learning tic-tac-toe run, a caption cGAN), its errors, path safety and concurrent use."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from conftest import IN_CI

if not IN_CI:  # CI installs the serve extra: a missing one fails there
    pytest.importorskip("starlette", reason='rlgen serve needs the serve extra: pip install -e ".[serve]"')
from PIL import Image  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from rlgen.agents.alphazero import AlphaZeroConfig  # noqa: E402
from rlgen.agents.qlearning import QLearningConfig  # noqa: E402
from rlgen.config import build_config  # noqa: E402
from rlgen.envs.game import make_game  # noqa: E402
from rlgen.generative.gan import CGANConfig  # noqa: E402
from rlgen.generative.pix2pix import Pix2PixConfig  # noqa: E402
from rlgen.run import train  # noqa: E402
from rlgen.serve import MAX_SAMPLES, MAX_SIMULATIONS, _checkpoint, create_app  # noqa: E402

QUIET = ["wandb.mode=disabled", "trainer.progress=off"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    alphazero = [
        "env=tictactoe",
        "steps=2",
        "games=8",
        "simulations=8",
        "train_steps=2",
        "batch_size=32",
        "eval_games=2",
        "eval_simulations=8",
        "play_simulations=16",
        "elo_pool=none",
        "workers=1",
        "trainer.eval_every=0",
        "trainer.final_report=false",
    ]
    train("alphazero", build_config(AlphaZeroConfig, {}, [*QUIET, *alphazero]), root / "ttt-az")
    qlearning = ["env=tictactoe", "steps=20000", "trainer.final_report=false"]
    train("qlearning", build_config(QLearningConfig, {}, [*QUIET, *qlearning]), root / "ttt-q")
    cgan = [
        "data=shapes:n=300",
        "condition=caption",
        "g_channels=8",
        "d_channels=8",
        "embed_dim=8",
        "latent_dim=8",
        "batch_size=16",
        "steps=2",
        "metrics=false",
        "trainer.eval_every=0",
        "trainer.final_report=false",
    ]
    train("cgan", build_config(CGANConfig, {}, [*QUIET, *cgan]), root / "shapes-cgan")
    pix2pix = [
        "data=shapes:n=120",
        "task=outline",
        "channels=8",
        "max_channels=32",
        "d_channels=8",
        "batch_size=8",
        "steps=2",
        "metrics=false",
        "trainer.eval_every=0",
        "trainer.final_report=false",
    ]
    train("pix2pix", build_config(Pix2PixConfig, {}, [*QUIET, *pix2pix]), root / "outline-pix2pix")
    (root / "not-a-run").mkdir()
    (root / "secret.txt").write_text("outside every run")
    return root


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app([runs]))


def test_the_page_and_the_runs_table(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "cdn" not in page.text.lower()
    listed = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(listed) == {"ttt-az", "ttt-q", "shapes-cgan", "outline-pix2pix"}
    assert listed["ttt-az"]["kind"] == "game" and listed["shapes-cgan"]["kind"] == "generate"
    assert listed["ttt-az"]["algo"] == "alphazero" and listed["ttt-az"]["input"] == "tictactoe"
    assert listed["ttt-q"]["status"] == "finished" and listed["ttt-q"]["step"] == 20000
    detail = client.get("/api/runs/ttt-az").json()
    assert detail["config"]["env"] == "tictactoe" and detail["game"]["actions"] == 9
    series = client.get("/api/runs/ttt-q/metrics").json()["series"]
    assert any(key.startswith("eval/") for key in series) and all(len(p) == 2 for p in next(iter(series.values())))


@pytest.mark.parametrize("run", ["ttt-az", "ttt-q"])
def test_a_whole_game_through_the_api_with_the_agents_probabilities(client, run):
    """The client sends the moves so far; the server answers with the agent's move, its
    visit distribution over the board and its value, until the game ends."""
    game = make_game("tictactoe")
    rng = np.random.default_rng(0)
    moves: list[int] = []
    reply = client.post(f"/api/runs/{run}/move", json={"moves": moves}).json()  # the agent opens
    while not reply["done"]:
        assert reply["move"] in range(9) and len(reply["policy"]) == 9
        assert abs(sum(reply["policy"]) - 1.0) < 1e-6 and -1.0 <= reply["value"] <= 1.0
        moves = [*reply["moves"], int(rng.choice(reply["legal"]))]
        reply = client.post(f"/api/runs/{run}/move", json={"moves": moves, "simulations": 32}).json()
    state = game.initial(1)
    for move in reply["moves"]:
        state = game.step(state, np.array([move]))
    assert bool(state.done[0]) and reply["winner"] == int(state.winner[0])
    assert reply["board"] == state.board[0].tolist()


def test_bad_requests_get_a_clear_4xx_and_the_server_goes_on(client):
    illegal = client.post("/api/runs/ttt-az/move", json={"moves": [4, 4]})
    assert illegal.status_code == 400 and "move 2 (4) is illegal" in illegal.json()["error"]
    text = client.post("/api/runs/ttt-az/move", json={"moves": "e5"})
    assert text.status_code == 400 and "'moves' must be a list of move numbers, got 'e5'" in text.json()["error"]
    huge = client.post("/api/runs/ttt-az/move", json={"simulations": 10**9})
    assert huge.status_code == 400 and f"whole number in 1..{MAX_SIMULATIONS}" in huge.json()["error"]
    broken = client.post("/api/runs/ttt-az/move", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "not JSON" in broken.json()["error"]
    unknown = client.get("/api/runs/nope")
    assert unknown.status_code == 404 and "unknown run 'nope'" in unknown.json()["error"]
    wrong_kind = client.post("/api/runs/shapes-cgan/move", json={"moves": []})
    assert wrong_kind.status_code == 400 and "cannot do that" in wrong_kind.json()["error"]
    too_many = client.post("/api/runs/shapes-cgan/sample", json={"n": MAX_SAMPLES + 1})
    assert too_many.status_code == 400 and f"1..{MAX_SAMPLES}" in too_many.json()["error"]
    word = client.post("/api/runs/shapes-cgan/sample", json={"condition": "a purple zeppelin", "n": 2})
    assert word.status_code == 400 and "zeppelin" in word.json()["error"]
    huge = client.post("/api/runs/ttt-az/move", content=b"[" + b"1," * 600_000 + b"1]")
    assert huge.status_code == 413
    assert client.get("/api/runs").status_code == 200  # still serving


def test_nothing_outside_the_served_runs_can_be_read(client, runs):
    for path in (
        "/api/runs/ttt-az/media/../config.yaml",
        "/api/runs/ttt-az/media/%2e%2e/%2e%2e/secret.txt",
        "/api/runs/..%2Fsecret.txt",
        "/api/runs/ttt-az/media/../../secret.txt",
        "/static/../serve.py",
    ):
        response = client.get(path)
        assert response.status_code == 404 and "outside every run" not in response.text, path


def test_a_caption_grid_comes_back_as_png(client):
    reply = client.post("/api/runs/shapes-cgan/sample", json={"condition": "a red circle", "n": 4, "seed": 1})
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(reply.content))
    assert image.width > image.height > 0
    again = client.post("/api/runs/shapes-cgan/sample", json={"condition": "a red circle", "n": 4, "seed": 1})
    assert again.content == reply.content  # the seed fixes the grid
    info = client.get("/api/runs/shapes-cgan").json()["generate"]
    assert info["condition"] == "caption" and "circle" in info["vocab"] and info["interpolates"]


def test_an_interpolation_is_the_generators_own_latent_paths(client, runs):
    from rlgen.generative import load_generator
    from rlgen.generative.base import grid_image

    request = {"condition": "a red circle", "n": 8, "seed": 3, "interpolate": 4}
    reply = client.post("/api/runs/shapes-cgan/sample", json=request)
    assert reply.status_code == 200
    generator = load_generator(runs / "shapes-cgan", checkpoint=_checkpoint(runs / "shapes-cgan"))
    images = generator.interpolate(steps=4, rows=2, condition="a red circle", seed=3)
    expected = io.BytesIO()
    grid_image(images, columns=4).save(expected, format="PNG")
    assert Image.open(io.BytesIO(reply.content)).tobytes() == Image.open(expected).tobytes()
    for bad in (1, 17, "8", True):
        wrong = client.post("/api/runs/shapes-cgan/sample", json={**request, "interpolate": bad})
        assert wrong.status_code == 400 and "'interpolate' must be" in wrong.json()["error"], bad
    assert client.get("/api/runs/outline-pix2pix").json()["generate"]["interpolates"] is False
    no_latents = client.post("/api/runs/outline-pix2pix/sample", json={"interpolate": 4})
    assert no_latents.status_code == 400 and "no latent space" in no_latents.json()["error"]


def test_an_input_image_goes_through_an_image_to_image_run(client):
    import base64

    info = client.get("/api/runs/outline-pix2pix").json()["generate"]
    channels, height, width = info["input_shape"]
    example = client.get("/api/runs/outline-pix2pix/example-input")
    assert example.status_code == 200 and Image.open(io.BytesIO(example.content)).size == (width, height)
    encoded = "data:image/png;base64," + base64.b64encode(example.content).decode()
    reply = client.post("/api/runs/outline-pix2pix/sample", json={"image": encoded, "n": 2, "seed": 0})
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/png"
    small = io.BytesIO()
    Image.new("RGB", (width // 2, height // 2)).save(small, format="PNG")
    wrong = client.post("/api/runs/outline-pix2pix/sample", json={"image": base64.b64encode(small.getvalue()).decode()})
    assert wrong.status_code == 400 and f"takes {width}x{height}" in wrong.json()["error"]
    garbage = client.post("/api/runs/outline-pix2pix/sample", json={"image": base64.b64encode(b"not a png").decode()})
    assert garbage.status_code == 400 and "not a readable PNG" in garbage.json()["error"]
    not_here = client.post("/api/runs/shapes-cgan/sample", json={"image": encoded})
    assert not_here.status_code == 400 and "image-to-image" in not_here.json()["error"]


def test_a_missing_folder_is_named(tmp_path):
    from rlgen.errors import ConfigError

    with pytest.raises(ConfigError, match="no such folder"):
        create_app([tmp_path / "nowhere"])


# ----------------------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def live_server(runs):
    """The app on uvicorn in a thread, on a free local port: its base URL."""
    import socket
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app([runs]), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(live_server):
    """Headless Chromium (Debian's chromium + chromium-driver, no download) on the live server."""
    import shutil

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        message = "browser tests need chromium and chromium-driver: apt-get install -y chromium chromium-driver"
        if IN_CI:
            pytest.fail(message + " (.ci/run installs them)")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    chrome.base = live_server
    yield chrome
    chrome.quit()


def test_a_load_of_concurrent_clients_against_the_live_server(live_server):
    """Six clients at once, each playing whole games and drawing grids over HTTP: a few
    hundred requests, none refused or failed."""
    import httpx

    counts, errors = [], []

    def client_session(seed: int) -> None:
        rng, done = np.random.default_rng(seed), 0
        with httpx.Client(base_url=live_server, timeout=60) as http:
            for game in range(8):
                reply = http.post("/api/runs/ttt-az/move", json={"moves": []}).json()
                done += 1
                while not reply["done"]:
                    response = http.post(
                        "/api/runs/ttt-q/move" if game % 2 else "/api/runs/ttt-az/move",
                        json={"moves": [*reply["moves"], int(rng.choice(reply["legal"]))]},
                    )
                    done += 1
                    if response.status_code != 200:
                        errors.append(response.text)
                        return
                    reply = response.json()
                sample = http.post("/api/runs/shapes-cgan/sample", json={"condition": "a blue square", "n": 4})
                done += 1
                if sample.status_code != 200 or not sample.content.startswith(b"\x89PNG"):
                    errors.append(sample.text)
        counts.append(done)

    threads = [threading.Thread(target=client_session, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(counts) == 6 and sum(counts) >= 200, (errors[:3], counts)


def test_a_whole_tictactoe_game_played_by_clicking(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(browser.base + "/#/play/ttt-az")
    wait = WebDriverWait(browser, 30)
    canvas = wait.until(lambda b: b.find_element(By.ID, "board"))
    status = browser.find_element(By.ID, "status")
    wait.until(lambda b: "your move" in status.text)
    refused = False
    for click in range(40):  # cells in order: an occupied one is refused, the game goes on
        if browser.find_elements(By.ID, "result"):
            break
        cell = click % 9
        x, y = (cell % 3 + 0.5) * 64 - canvas.size["width"] / 2, (cell // 3 + 0.5) * 64 - canvas.size["height"] / 2
        ActionChains(browser).move_to_element_with_offset(canvas, int(x), int(y)).click().perform()
        wait.until(lambda b: b.find_elements(By.ID, "result") or "your move" in status.text)
        refused = refused or "refused" in browser.find_element(By.ID, "error").text
    browser.save_screenshot(str(tmp_path / "play.png"))
    result = browser.find_element(By.ID, "result").text
    assert result in ("you win!", "a draw", "the agent wins"), result
    assert refused  # clicking an occupied cell was refused visibly
    moves = browser.find_element(By.ID, "moves").text.split()
    assert 5 <= len(moves) <= 9


def test_a_caption_typed_on_the_page_draws_a_grid(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(browser.base + "/#/generate/shapes-cgan")
    wait = WebDriverWait(browser, 30)
    caption = wait.until(lambda b: b.find_element(By.ID, "condition"))
    caption.clear()
    caption.send_keys("a purple zeppelin")
    browser.find_element(By.CSS_SELECTOR, "#form button").click()
    wait.until(lambda b: "zeppelin" in b.find_element(By.ID, "error").text)
    caption.clear()
    caption.send_keys("a red circle")
    browser.find_element(By.CSS_SELECTOR, "#form button").click()
    image = browser.find_element(By.ID, "grid")
    wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    browser.save_screenshot(str(tmp_path / "generate.png"))
    samples = image.get_attribute("src")
    assert samples.startswith("blob:") and browser.find_element(By.ID, "error").text == ""
    browser.find_element(By.ID, "interpolate").click()
    browser.find_element(By.CSS_SELECTOR, "#form button").click()
    wait.until(lambda b: image.get_attribute("src") != samples)
    wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    browser.save_screenshot(str(tmp_path / "interpolate.png"))
    assert browser.find_element(By.ID, "error").text == ""


def test_a_sketch_drawn_on_the_canvas_is_translated(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(browser.base + "/#/generate/outline-pix2pix")
    wait = WebDriverWait(browser, 30)
    sketch = wait.until(lambda b: b.find_element(By.ID, "sketch"))
    before = browser.execute_script("return arguments[0].toDataURL()", sketch)
    stroke = ActionChains(browser).move_to_element_with_offset(sketch, -60, -60).click_and_hold()
    stroke.move_by_offset(80, 30).move_by_offset(30, 60).release().perform()
    assert browser.execute_script("return arguments[0].toDataURL()", sketch) != before  # the stroke is on the canvas
    browser.find_element(By.CSS_SELECTOR, "#form button[type=submit], #form button:not([type])").click()
    image = browser.find_element(By.ID, "grid")
    wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    browser.save_screenshot(str(tmp_path / "sketch.png"))
    assert image.get_attribute("src").startswith("blob:") and browser.find_element(By.ID, "error").text == ""
