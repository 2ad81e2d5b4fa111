package jwtledger_test

// The tests open stores by their specs ("sqlite:", postgres://...), as
// the jwtledger command does: these imports register both backends.
import (
	_ "github.com/jwtledger/jwtledger/store/postgres"
	_ "github.com/jwtledger/jwtledger/store/sqlite"
)
