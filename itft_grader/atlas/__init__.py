"""The class transfer atlas: the plan and harvest of students' cells (``harvest``), its report and plan
files (``report``) and a synthetic class (``sample``)."""
