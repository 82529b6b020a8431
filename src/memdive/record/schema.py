"""The recording file: an SQLite database in WAL mode with a versioned schema.

Identity: PRAGMA application_id = 0x6D646976 ("mdiv") and PRAGMA user_version = SCHEMA_VERSION.
One sample is written in one transaction (its `samples` row, `system` row, `vmstat` rows and
`proc_samples` rows), so a recorder killed at any point leaves a file holding whole samples only.

Tables (bytes as integers, times as Unix seconds):
  meta(key, value)                         schema_version, memdive_version, hostname, kernel, interval, ...
  samples(id, t, interval_seconds, processes, denied, vanished, sampler_cpu_seconds)
  system(sample_id, <meminfo columns>, psi_*)
  vmstat_names(id, name); vmstat(sample_id, name_id, value, rate)
  procs(id, pid, start_ticks, uid, user, comm, command, cgroup, first_sample, last_sample)
  proc_samples(sample_id, proc_id, rss_bytes, swap_bytes, pss_bytes, uss_bytes, swap_pss_bytes,
               pss_anon_bytes, pss_file_bytes, pss_shmem_bytes, minflt, majflt, faults_per_second,
               major_faults_per_second, cpu_percent, pss_age_seconds)
"""

from __future__ import annotations

APPLICATION_ID = 0x6D646976
SCHEMA_VERSION = 1

# /proc/meminfo line -> system column (bytes).
MEMINFO_COLUMNS: dict[str, str] = {
    "MemTotal": "total_bytes",
    "MemFree": "free_bytes",
    "MemAvailable": "available_bytes",
    "Buffers": "buffers_bytes",
    "Cached": "page_cache_bytes",
    "Shmem": "shmem_bytes",
    "SReclaimable": "slab_reclaimable_bytes",
    "SUnreclaim": "slab_unreclaimable_bytes",
    "KernelStack": "kernel_stack_bytes",
    "PageTables": "page_tables_bytes",
    "AnonPages": "anon_bytes",
    "AnonHugePages": "anon_thp_bytes",
    "Hugetlb": "hugetlb_bytes",
    "Committed_AS": "committed_bytes",
    "CommitLimit": "commit_limit_bytes",
    "SwapTotal": "swap_total_bytes",
    "SwapFree": "swap_free_bytes",
    "Dirty": "dirty_bytes",
    "Writeback": "writeback_bytes",
    "Mlocked": "mlocked_bytes",
}

PSI_COLUMNS = ("psi_some_avg10", "psi_some_avg60", "psi_some_avg300", "psi_some_total_us",
               "psi_full_avg10", "psi_full_avg60", "psi_full_avg300", "psi_full_total_us")

PROC_SAMPLE_COLUMNS = ("rss_bytes", "swap_bytes", "pss_bytes", "uss_bytes", "swap_pss_bytes", "pss_anon_bytes",
                       "pss_file_bytes", "pss_shmem_bytes", "minflt", "majflt", "faults_per_second",
                       "major_faults_per_second", "cpu_percent", "pss_age_seconds")

DDL = [
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ("CREATE TABLE samples(id INTEGER PRIMARY KEY, t REAL NOT NULL, interval_seconds REAL, "
     "processes INTEGER NOT NULL, denied INTEGER NOT NULL, vanished INTEGER NOT NULL, sampler_cpu_seconds REAL)"),
    "CREATE INDEX samples_t ON samples(t)",
    "CREATE TABLE system(sample_id INTEGER PRIMARY KEY REFERENCES samples(id), "
    + ", ".join(f"{c} INTEGER" for c in MEMINFO_COLUMNS.values()) + ", "
    + ", ".join(f"{c} {'INTEGER' if c.endswith('_us') else 'REAL'}" for c in PSI_COLUMNS) + ")",
    "CREATE TABLE vmstat_names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
    ("CREATE TABLE vmstat(sample_id INTEGER NOT NULL, name_id INTEGER NOT NULL, value INTEGER NOT NULL, rate REAL, "
     "PRIMARY KEY(sample_id, name_id)) WITHOUT ROWID"),
    ("CREATE TABLE procs(id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, start_ticks INTEGER NOT NULL, "
     "uid INTEGER, user TEXT, comm TEXT, command TEXT, cgroup TEXT, first_sample INTEGER, last_sample INTEGER, "
     "UNIQUE(pid, start_ticks))"),
    ("CREATE TABLE proc_samples(sample_id INTEGER NOT NULL, proc_id INTEGER NOT NULL, "
     "rss_bytes INTEGER NOT NULL, swap_bytes INTEGER, pss_bytes INTEGER, uss_bytes INTEGER, swap_pss_bytes INTEGER, "
     "pss_anon_bytes INTEGER, pss_file_bytes INTEGER, pss_shmem_bytes INTEGER, minflt INTEGER, majflt INTEGER, "
     "faults_per_second REAL, major_faults_per_second REAL, cpu_percent REAL, pss_age_seconds REAL, "
     "PRIMARY KEY(sample_id, proc_id)) WITHOUT ROWID"),
    "CREATE INDEX proc_samples_proc ON proc_samples(proc_id, sample_id)",
]
