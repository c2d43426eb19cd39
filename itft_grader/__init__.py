"""The grading side of the course: nbgrader course set-up, release of student versions, and the
class-scale grading pipeline. Needs the ``grader`` extra (nbgrader); students never import it."""
