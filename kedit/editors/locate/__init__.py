"""The locate-then-edit family's shared core: ROME, MEMIT (and PMET, AlphaEdit, EMMET to come) are
thin modules over these functions, each taking plain tensors, module paths and a few numbers --
never another method's hyper-parameter class (EasyEdit carries eight copies of ``compute_ks.py``;
kedit carries one).

* ``keys``: where a fact is looked up (the subject's last token, or the prompt's last token) and
  the mean input/output of a module there over context prompts -- ``k*`` and ``v₀``;
* ``values``: the residual ``δ`` added at one site and optimised for the new target (target NLL,
  KL on the subject's "essence", norm clamp, early stop), running only the blocks from the edited
  layer up;
* ``solves``: the rank-one update (ROME), the least-squares update of a batch spread over layers
  (MEMIT), both in float64 with ``torch.linalg.solve``, and the one weight write that knows GPT-2's
  Conv1D layout;
* ``templates``: the context prefixes sampled once per model.

The key statistics ``C = E[k kᵀ]`` live in ``kedit.editors.stats`` (cached on disk).
"""
