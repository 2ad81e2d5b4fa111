-- From this version tree_hashes holds only the levels from 8 up (see
-- store/internal/tables/tree.go): leaf hashes are read from audit.leaf.
-- The rows older versions kept below level 8 are deleted after the
-- migrations, at open (tables.DropOlderTreeRows); this version number is
-- what makes an older binary, which would read them, refuse the store.
SELECT 1;
