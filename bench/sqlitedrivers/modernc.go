//go:build !mattn && !ncruces

package main

import _ "modernc.org/sqlite" // pure Go: C translated to Go (the receiver's driver)

const driverName, driverLabel = "sqlite", "modernc"
