package devenv

import "syscall"

// sysProcAttr puts the child in its own process group, so a Ctrl-C in the
// terminal reaches the caller and not the database behind it, and makes the
// kernel kill the child if this process dies. cred, when not nil, switches to
// another user. Go sets the credentials before it calls PR_SET_PDEATHSIG, so
// the uid change doesn't clear the death signal.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
}
