package watch

import "golang.org/x/sys/windows"

// LimitError is an error that means the watch limit was reached here.
var LimitError error = windows.ERROR_TOO_MANY_OPEN_FILES
