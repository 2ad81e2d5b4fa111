//go:build !race

package jwtledger_test

const raceEnabled = false
