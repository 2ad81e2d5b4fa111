-- The query index moved to a file of its own next to the database
-- (PATH-index, see store/sqlite/indexfile.go): its follower then takes
-- that file's write lock, not the append's. The tables here are dropped;
-- the index file is derived data, built again from the records at open.
DROP TABLE IF EXISTS audit_index;
DROP TABLE IF EXISTS audit_indexed;
