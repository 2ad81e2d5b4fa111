package sqlite

// SetTreeHashing turns the tree hashes off or on, to measure their cost.
func SetTreeHashing(db *DB, on bool) { db.noTree = !on }
