package postgres

// SetIndexer makes stores opened after start their index follower (on) or
// not; it returns the previous setting.
func SetIndexer(on bool) bool { was := startIndexer; startIndexer = on; return was }

// Dialect is the store's SQL dialect.
var Dialect = dialect

// SetSmallRange sets the size below which a time range is read by time
// (Dialect.SmallRange) and returns the previous one.
func SetSmallRange(n int) int { was := dialect.SmallRange; dialect.SmallRange = n; return was }
