package console_test

// The tests open ledgers by store spec (the default sqlite:, postgres://
// URLs): these imports register both backends.
import (
	_ "github.com/jwtledger/jwtledger/store/postgres"
	_ "github.com/jwtledger/jwtledger/store/sqlite"
)
