"""itft: a course package for intermediate-task fine-tuning, multi-task learning and task embeddings.

Submodules, one job each. The course layer, ``homework``, is the one that knows the modes and what
each homework runs in each (data, model, budget); the engines take tasks, examples and settings:
``runtime`` (device, seed, mode and presets), ``models`` (presets, heads, encoder hand-over), ``data``
(tasks from hub, local files or generated), ``qa`` (``QASettings``, windows, spans, decoding),
``encoding`` (features and batching), ``training`` (the loop), ``finetune`` (task-level train and
evaluate), ``metrics``, ``mtl`` (λ schedules, simple samplers, GradNorm), ``mtl_training`` (one
encoder, several task heads: loss weighting or task sampling, the λ sweep), ``mtl_history`` (what a
run did), ``transfer``
(intermediate-task fine-tuning and the transfer matrix), ``fisher`` (the empirical Fisher),
``taskemb`` (task embeddings), ``selection`` (ranking sources against measured transfers), ``files``
(atomic writes, digests), ``plots``.
"""
__version__ = "0.1.0"
