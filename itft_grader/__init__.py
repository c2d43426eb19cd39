"""The grading side of the course; needs the ``grader`` extra (nbgrader); students never import it.

Laid out by the pipeline's stages, in the order a submission meets them:

* ``release``: solutions -> student versions (``build``), the student tree (``publish``), the sample class
  and the course run that check them;
* ``intake``: what students sent -> one gradeable notebook per file, nothing lost;
* ``sandbox``: where each student's kernel runs (bubblewrap, the process tree's limits);
* ``checks``: the trusted checks, scored in the grader's process, and the references they compare with;
* ``grading``: the class pipeline, one submission through nbgrader, results, sheet and feedback, Gradescope;
* ``atlas``: the class transfer atlas harvested from graded notebooks.

``course`` (course folders and running nbgrader, each run forked from ``forkserver``) serves them all;
``nbgrader_config.py`` is nbgrader's own configuration file, copied into every course folder.
"""
