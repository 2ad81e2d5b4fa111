-- Records appended from this version on keep packed bodies (the members of
-- the canonical encoding in binary, store/internal/packed), which earlier
-- releases cannot read: the version bump makes them refuse the database
-- ("newer than this jwtledger knows") instead. Existing bodies stay as they
-- are (canonical encodings, read as they are); nothing is rewritten.
INSERT OR REPLACE INTO meta (name, value) VALUES ('record_form', CAST('packed-1' AS BLOB));
