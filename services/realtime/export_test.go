package realtime

// TouchInterval is touchInterval, for the black-box tests.
var TouchInterval = touchInterval
