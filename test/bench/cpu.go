package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// benchProcess names the bench process's own CPU time.
const benchProcess = "bench-process"

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times; Linux
// fixes it at 100 for user space.
const clockTicks = 100

// cpuTimes reads the CPU time (user + system, in ms) of the bench process
// and of its child processes by name (envtest's kube-apiserver and etcd).
func cpuTimes() map[string]float64 {
	self := os.Getpid()
	out := map[string]float64{benchProcess: procCPUms(self)}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == self {
			continue
		}
		name, ppid, ms, ok := procStat(pid)
		if ok && ppid == self {
			out[name] += ms
		}
	}
	return out
}

func procCPUms(pid int) float64 {
	_, _, ms, _ := procStat(pid)
	return ms
}

// procStat parses /proc/<pid>/stat: the command name, the parent's pid and
// utime + stime in ms.
func procStat(pid int) (string, int, float64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, 0, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, 0, false
	}
	// After "(comm) ": state ppid ... utime is field 14 and stime 15 of
	// the whole line, so 11 and 12 here (0-based, from the state).
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return s[open+1 : end], ppid, (ut + st) * 1000 / clockTicks, true
}

// cpuPer is the CPU ms per request of each process between two readings.
func cpuPer(a, b map[string]float64, n int) map[string]float64 {
	out := map[string]float64{}
	for k, v := range b {
		if d := v - a[k]; d > 0 {
			out[k] = d / float64(n)
		}
	}
	return out
}
