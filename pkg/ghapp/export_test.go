package ghapp

// SetFlightJoined makes c call f once a config lookup has joined (or
// started) the read in flight for its repository (lower-case name), so a
// test can hold that read until every lookup it started has joined.
func SetFlightJoined(c *Client, f func(key string)) { c.flightJoined = f }
