//go:build !linux

package devenv

import "syscall"

// sysProcAttr: without Pdeathsig, outside Linux callers must Stop what they
// start.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}
