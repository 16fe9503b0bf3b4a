// Command pause is the sandbox ("pause") container of the local cluster
// (make cluster): it holds a pod's namespaces, reaps orphaned children as
// PID 1 and exits on SIGINT or SIGTERM. Packed by hack/image as
// registry.k8s.io/pause:3.10 so that no image is pulled.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
