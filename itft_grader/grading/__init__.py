"""Grading a class: the pipeline over submissions (``pipeline``), one submission through nbgrader
(``submission``, ``progress``), the signed results and the sheet (``results``), what feedback may show
(``feedback``) and the Gradescope bundle (``gradescope``)."""
