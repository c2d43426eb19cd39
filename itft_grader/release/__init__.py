"""From the instructor's solutions to what students get: student versions (``build``), the student tree
(``publish``), and the sample class and course run that check both (``sample_class``, ``course_demo``)."""
