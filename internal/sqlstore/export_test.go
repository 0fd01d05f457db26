package sqlstore

// DecodedReleases counts the releases' frozen contents FindRelease decoded.
func (db *DB) DecodedReleases() int64 { return db.releaseDecodes.Load() }
