"""Jobs: the backend port (embedded threads or a distributed engine), the job table's
queue operations, what each kind of job does, and the schedule tick that finds due work."""
