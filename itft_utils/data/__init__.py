"""Tasks and their data: one example schema, three sources (hub, local files, generated)."""
from .custom import register_task
from .errors import DataFormatError
from .generated_tasks import GENERATED_TASKS, generate_task
from .label_files import read_class_files, read_label_lines
from .registry import default_data_dir, load_task, task_names
from .splits import SQUAD_TRAIN_ARTICLES, split_by_article, subsample
from .task import TASK_FAMILIES, TASK_TYPES, Task

__all__ = [
    "GENERATED_TASKS", "TASK_FAMILIES", "TASK_TYPES", "DataFormatError", "Task", "default_data_dir",
    "SQUAD_TRAIN_ARTICLES", "generate_task", "load_task", "read_class_files", "read_label_lines", "register_task",
    "split_by_article", "subsample", "task_names",
]
