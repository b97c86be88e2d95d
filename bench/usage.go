package bench

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Usage is where a phase's time went, in cores: CPU seconds (or, for
// PostgreSQL's databases, seconds of statements running) per second of the
// phase. On a 2-core machine, 2 is everything. It is read from Linux's
// /proc; elsewhere it is not measured.
type Usage struct {
	// Bench is this process: the embedded Temporal server, the callers and
	// the bare shapes' worker.
	Bench float64 `json:"benchCores"`
	// Worker is the production worker's process.
	Worker float64 `json:"workerCores"`
	// Postgres is every PostgreSQL process of the server (--server postgres).
	Postgres float64 `json:"postgresCores,omitempty"`
	// The PostgreSQL sessions busy with a statement, on average, in each of
	// the run's databases (pg_stat_database's active_time): Temporal's
	// history, its visibility, and the status store. A session waiting for a
	// lock or a disk counts as busy.
	TemporalBusy   float64 `json:"temporalDatabaseBusy,omitempty"`
	VisibilityBusy float64 `json:"visibilityDatabaseBusy,omitempty"`
	StatusBusy     float64 `json:"statusDatabaseBusy,omitempty"`
}

// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat's times.
const clockTicks = 100

// cpuMeter reads the CPU time the run's processes used so far.
type cpuMeter struct {
	worker int     // the production worker's pid
	pg     *sql.DB // an administrator's connection to the herd's PostgreSQL; nil on SQLite
	dbs    [3]string
}

type cpuReading struct {
	at                     time.Time
	bench, worker, pg      time.Duration
	temporal, vis, status  float64 // milliseconds of statements, per database
	pgMeasured, dbMeasured bool
}

func (m *cpuMeter) read(ctx context.Context) cpuReading {
	r := cpuReading{at: time.Now(), worker: processCPU(m.worker, false)}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		r.bench = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if m.pg == nil {
		return r
	}
	r.pg, r.pgMeasured = postgresCPU()
	// active_time is kept by each session and published when it goes idle,
	// at most once a second, or 10 s later for a session that then stays
	// idle: right for a phase of minutes, not for one of seconds.
	rows, err := m.pg.QueryContext(ctx, "SELECT datname, active_time FROM pg_stat_database WHERE datname = ANY($1)", m.dbs[:])
	if err != nil {
		return r
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name   string
			active float64
		)
		if rows.Scan(&name, &active) != nil {
			return r
		}
		switch name {
		case m.dbs[0]:
			r.temporal = active
		case m.dbs[1]:
			r.vis = active
		case m.dbs[2]:
			r.status = active
		}
	}
	r.dbMeasured = rows.Err() == nil
	return r
}

// usage starts measuring a phase; the function returned ends it.
func (h *herd) usage(ctx context.Context) func() *Usage {
	if h.cpu == nil {
		return func() *Usage { return nil }
	}
	start := h.cpu.read(ctx)
	return func() *Usage {
		end := h.cpu.read(ctx)
		wall := end.at.Sub(start.at).Seconds()
		if wall <= 0 {
			return nil
		}
		u := &Usage{Bench: (end.bench - start.bench).Seconds() / wall, Worker: (end.worker - start.worker).Seconds() / wall}
		if start.pgMeasured && end.pgMeasured {
			u.Postgres = (end.pg - start.pg).Seconds() / wall
		}
		if start.dbMeasured && end.dbMeasured {
			u.TemporalBusy = (end.temporal - start.temporal) / 1000 / wall
			u.VisibilityBusy = (end.vis - start.vis) / 1000 / wall
			u.StatusBusy = (end.status - start.status) / 1000 / wall
		}
		return u
	}
}

// processCPU is the user and system CPU time of process pid, with that of
// its children it has waited for when children is set.
func processCPU(pid int, children bool) time.Duration {
	f := statFields(pid)
	// f[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
	if len(f) < 15 {
		return 0
	}
	n := 2
	if children {
		n = 4
	}
	var ticks int64
	for _, v := range f[11 : 11+n] {
		t, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		ticks += t
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// postgresCPU is the CPU time of this machine's PostgreSQL: its processes
// running now, and the sessions that ended (counted in the postmaster's
// children). It assumes one PostgreSQL server on the machine.
func postgresCPU() (time.Duration, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	isPostgres := func(pid int) bool {
		b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
		return strings.TrimSpace(string(b)) == "postgres"
	}
	var total time.Duration
	found := false
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !isPostgres(pid) {
			continue
		}
		found = true
		var ppid int
		if f := statFields(pid); len(f) > 1 {
			ppid, _ = strconv.Atoi(f[1])
		}
		total += processCPU(pid, ppid > 0 && !isPostgres(ppid))
	}
	return total, found
}

// statFields are the fields of /proc/<pid>/stat from the third (state) on;
// none if it cannot be read.
func statFields(pid int) []string {
	body, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	// The command name, in parentheses, may hold spaces: the fields start after it.
	s := string(body)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return nil
	}
	return strings.Fields(s[end+1:])
}
