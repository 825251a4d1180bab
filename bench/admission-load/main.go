// admission-load sends server-side dry-run creates of one object to the API
// server from N concurrent clients and prints each request's latency, for
// bench/admission.py (`make bench-admission`). Standard library only, so that
// the client's own cost is small and the same in every setup measured.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	server := flag.String("server", "", "the API server's URL")
	caFile := flag.String("ca", "", "the API server's CA certificate (PEM)")
	token := flag.String("token", "", "a bearer token")
	path := flag.String("path", "", "the collection to create in, e.g. /apis/apps/v1/namespaces/x/deployments")
	bodyFile := flag.String("body", "", "the object to create (JSON)")
	clients := flag.Int("clients", 1, "concurrent clients, each with its own connection")
	requests := flag.Int("requests", 600, "requests in all")
	warmup := flag.Int("warmup", 50, "requests sent first and not counted")
	flag.Parse()

	ca, err := os.ReadFile(*caFile)
	fail(err)
	body, err := os.ReadFile(*bodyFile)
	fail(err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		fail(fmt.Errorf("%s holds no PEM certificate", *caFile))
	}
	url := *server + *path + "?dryRun=All&fieldManager=bench-admission"

	var warned sync.Map
	send := func(client *http.Client) time.Duration {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		fail(err)
		req.Header.Set("Authorization", "Bearer "+*token)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(req)
		fail(err)
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		fail(err)
		if resp.StatusCode != http.StatusCreated {
			fail(fmt.Errorf("dry-run create answered %d: %s", resp.StatusCode, out))
		}
		for _, w := range resp.Header.Values("Warning") {
			warned.Store(w, true)
		}
		return took
	}
	newClient := func() *http.Client {
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: pool},
			MaxIdleConnsPerHost: 1,
			ForceAttemptHTTP2:   false,
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		}}
	}

	warm := newClient()
	for i := 0; i < *warmup; i++ {
		send(warm)
	}

	var mu sync.Mutex
	var latencies []float64
	var wg sync.WaitGroup
	per := *requests / *clients
	start := time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := newClient()
			mine := make([]float64, 0, per)
			for i := 0; i < per; i++ {
				mine = append(mine, send(client).Seconds())
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	wall := time.Since(start).Seconds()
	sort.Float64s(latencies)
	q := func(p float64) float64 { return latencies[int(p*float64(len(latencies)-1))] }
	warnings := []string{}
	warned.Range(func(k, _ any) bool { warnings = append(warnings, k.(string)); return true })
	fail(json.NewEncoder(os.Stdout).Encode(map[string]any{
		"warnings": warnings,
		"requests": len(latencies), "seconds": wall,
		"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": latencies[len(latencies)-1],
	}))
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "admission-load:", err)
		os.Exit(1)
	}
}
