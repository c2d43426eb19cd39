"""nbgrader configuration of the itft course (used as it is; nothing here forks nbgrader).

The grading pipeline (itft_grader/grading/pipeline.py) copies this file into each private course folder it
grades in; `root` is set there on the command line. Sized for *grading mode*: every homework
switches to a tiny model and generated data when NBGRADER_EXECUTION is set.
"""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

from itft_grader.checks.execute import TrustedExecute

c = get_config()  # noqa: F821  (injected by traitlets)

c.CourseDirectory.course_id = "itft"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
# Homeworks are single notebooks named like their assignment: solutions/hw1_mtl.ipynb -> hw1_mtl.
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# A grading-mode cell finishes in seconds; 120 s leaves room for a slow machine while still
# stopping an infinite loop. The whole submission has a wall-time cap in the pipeline as well.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.allow_errors = True
# The kernel's state is thrown away with its sandbox: kill it at the end rather than wait for a graceful
# exit (torch's and matplotlib's teardown cost a second or two per submission).
c.Execute.shutdown_kernel = "immediate"

# Output limits: a flood of prints must not blow up the feedback or the grader's memory.
c.LimitOutput.max_lines = 500
c.LimitOutput.max_traceback = 60

# Harmless stderr noise that would otherwise zero a test cell (nbgrader scores any stderr as 0).
c.IgnorePattern.enabled = True
# nbgrader drops a whole stderr chunk when this matches anywhere in it: library warnings and the
# tokenizers fork notice only. Test failures are `error` outputs, never stderr, so they still count.
c.IgnorePattern.pattern = r"(UserWarning|FutureWarning|DeprecationWarning|TqdmWarning|huggingface/tokenizers)"

# Test cells are never run in the student's kernel: the grader sends their trusted checks there and
# scores the plain answers in its own process (itft_grader/checks/execute.py); nbgrader's other
# autograde steps are its own, in its own order.
c.Autograde.autograde_preprocessors = [TrustedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
                                       AssignLatePenalties, CheckCellMetadata]

# Students in Colab can delete locked cells: put deleted grade cells back from the gradebook.
c.OverwriteCells.add_missing_cells = True

# Student stub for solution regions.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Set by the grading pipeline (itft_grader/grading/pipeline.py), never by students: kernels talk to nbgrader
# over Unix sockets in the submission's scratch folder (a sandboxed kernel has no network), and
# each cell's start is recorded so that a dead or stuck kernel is reported with its cell.

if os.environ.get("ITFT_SANDBOX") == "1":
    c.KernelManager.transport = "ipc"
    # One kernel per nbgrader run: its connection file and sockets in the folder the sandbox shares.
    c.KernelManager.connection_file = os.path.join(os.environ["JUPYTER_RUNTIME_DIR"], "kernel.json")
    c.KernelManager.ip = os.path.join(os.environ["JUPYTER_RUNTIME_DIR"], "kernel")  # socket path prefix
if os.environ.get("ITFT_GRADE_PROGRESS"):
    from itft_grader.grading.progress import record_cell  # noqa: E402

    c.Execute.on_cell_execute = record_cell
