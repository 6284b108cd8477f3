//go:build mattn

package main

import _ "github.com/mattn/go-sqlite3" // cgo: SQLite's C compiled by gcc

const driverName, driverLabel = "sqlite3", "mattn"
