// Command hello stands in for a pairpad process in the image tests: it
// answers --version the way shared/process does, and is quick to build.
package main

import (
	"fmt"
	"os"

	"github.com/pairpad/pairpad/shared/buildinfo"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Printf("pairpad hello %s\n", buildinfo.Version)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: hello --version")
	os.Exit(2)
}
