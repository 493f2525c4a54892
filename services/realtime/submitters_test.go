package realtime

import (
	"sync"
	"testing"
	"time"
)

// TestSubmittersReuseAndClose runs loops on the pool: two at once get a
// worker each, a worker that finished takes the next loop, close waits for
// the workers, and a loop run after close still runs.
func TestSubmittersReuseAndClose(t *testing.T) {
	p := newSubmitters()
	release := make(chan struct{})
	var started, finished sync.WaitGroup
	for range 2 {
		started.Add(1)
		finished.Add(1)
		p.run(func() {
			started.Done()
			<-release
			finished.Done()
		})
	}
	started.Wait() // both ran at once: one worker each
	close(release)
	finished.Wait()

	// An idle worker takes the next loop straight from the channel.
	ran := make(chan struct{})
	select {
	case p.tasks <- func() { close(ran) }:
	case <-time.After(time.Minute): // only against a hang
		t.Fatal("no idle worker took a loop after the first ones finished")
	}
	<-ran

	closed := make(chan struct{})
	go func() {
		p.close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(time.Minute): // only against a hang
		t.Fatal("close did not return with only idle workers")
	}
	after := make(chan struct{})
	p.run(func() { close(after) })
	<-after
}
