//go:build ncruces

package main

import _ "github.com/ncruces/go-sqlite3/driver" // SQLite compiled to WebAssembly, run by wazero (embedded)

const driverName, driverLabel = "sqlite3", "ncruces"
