"""Reading what students sent: archives and folders into one file per student (``submissions``), notebooks
made gradeable (``normalize``, ``syntax``) and answers that hand back to the library (``delegation``)."""
