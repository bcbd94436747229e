"""Fast twins of the readable algorithms (internal).

Each module here holds the hand-written twin of one readable piece of an algorithm
module: the same signature as its reference, chosen once when the algorithm is built
(`manual_grad`, numpy acting), and held equal to the reference by a test. A reader who
changes an algorithm edits the reference in the algorithm's module; a twin that no longer
matches fails its test, and `manual_grad=false` runs the reference alone.

- `mlp`: plain MLP passes by hand (forward keeping activations, backward by the chain
  rule) and a numpy forward pass for acting on a few observations at a time.
- `td_loss`: DQN's TD loss and its gradient (`rlgen.agents.dqn.TDLoss`'s twin).
- `ppo_loss`: PPO's clipped loss and its gradient (`rlgen.agents.ppo.PPOLoss`'s twin).
- `sac_update`: SAC's whole gradient step, critics, actor and entropy coefficient
  (`rlgen.agents.sac.SAC.update`'s twin), in fp32 or bf16.
"""
