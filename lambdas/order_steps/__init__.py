"""Worker Lambdas of the order-processing steps (seed 004): each handles one step request and
answers TASK_FINISHED or TASK_FAILED; the Step Finisher resumes the execution."""
