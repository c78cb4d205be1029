// Command gozero-compat runs go-zero's own service discovery (core/discov) so the integration
// tests can use it as the judge of what etcd-registrar writes (docs/compatibility.md).
//
//	gozero-compat subscribe -endpoints 127.0.0.1:2379 -key user.rpc
//	    Prints `values ["a","b"]` (sorted JSON array) whenever the set of values go-zero's
//	    Subscriber resolves for the key changes, starting with the set it loaded first.
//	gozero-compat publish -endpoints 127.0.0.1:2379 -key user.rpc -value 10.0.0.1:80 [-id 7]
//	    Holds one registration with go-zero's Publisher.KeepAlive (lease TTL: go-zero's default,
//	    discov.TimeToLive) and prints `registered` once KeepAlive returned. SIGHUP calls
//	    Publisher.Stop (go-zero revokes the lease); the process then stays until it is killed.
//
// Importing core/discov also runs core/proc's init, which catches SIGTERM/SIGINT and exits about
// 5.5 s later; the tests therefore stop this program with SIGHUP (publish) or SIGKILL. Nothing
// here starts go-zero's dev server (that is core/service's job, never imported). go-zero's own
// log goes to stderr so that stdout carries only the lines above.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/zeromicro/go-zero/core/discov"
	"github.com/zeromicro/go-zero/core/logx"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: gozero-compat subscribe|publish -endpoints E -key K [-value V] [-id N]")
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	endpoints := flags.String("endpoints", "127.0.0.1:2379", "etcd endpoints, comma separated")
	key := flags.String("key", "", "go-zero's Etcd.Key")
	value := flags.String("value", "", "publish: the value to register")
	id := flags.Int64("id", 0, "publish: go-zero's WithId (0: key/<leaseID>)")
	_ = flags.Parse(os.Args[2:])
	if *key == "" {
		fail("-key is required")
	}
	logx.SetWriter(logx.NewWriter(os.Stderr))
	logx.DisableStat()
	hosts := strings.Split(*endpoints, ",")

	switch os.Args[1] {
	case "subscribe":
		subscribe(hosts, *key)
	case "publish":
		publish(hosts, *key, *value, *id)
	default:
		fail("unknown command " + os.Args[1])
	}
}

func subscribe(hosts []string, key string) {
	sub, err := discov.NewSubscriber(hosts, key)
	if err != nil {
		fail("NewSubscriber: " + err.Error())
	}
	var mu sync.Mutex
	last := ""
	report := func() {
		mu.Lock()
		defer mu.Unlock()
		values := slices.Clone(sub.Values())
		if values == nil {
			values = []string{}
		}
		slices.Sort(values)
		text, _ := json.Marshal(values)
		if line := "values " + string(text); line != last {
			last = line
			fmt.Println(line)
		}
	}
	// Changes after AddListener call report(); anything before it is in the first Values().
	sub.AddListener(report)
	report()
	select {}
}

func publish(hosts []string, key, value string, id int64) {
	var opts []discov.PubOption
	if id > 0 {
		opts = append(opts, discov.WithId(id))
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGHUP)
	pub := discov.NewPublisher(hosts, key, value, opts...)
	if err := pub.KeepAlive(); err != nil {
		fail("KeepAlive: " + err.Error())
	}
	fmt.Println("registered")
	<-stop
	pub.Stop()
	fmt.Println("stopped")
	select {}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "gozero-compat: "+message)
	os.Exit(2)
}
