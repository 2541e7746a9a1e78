package watch

import "syscall"

// LimitError is an error that means the watch limit was reached here.
var LimitError error = syscall.ENOSPC
