package webhook_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/shipgate/shipgate/webhook"
)

// A receiver: read the raw body (bounded), verify it, then decode it.
// During a rotation, pass both secrets: webhook.Verify(…, newSecret,
// oldSecret).
func Example() {
	secret := "s3cret" // e.g. os.Getenv("SHIPGATE_WEBHOOK_SECRET")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(r.Header.Get(webhook.Header), body, time.Now(), webhook.DefaultTolerance, secret); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		// Deliveries are at least once: drop repeats by X-Shipgate-Delivery.
		fmt.Println("verified delivery", r.Header.Get("X-Shipgate-Delivery"))
		w.WriteHeader(http.StatusNoContent)
	})

	// What shipgate sends, for the example to run on its own.
	srv := httptest.NewServer(handler)
	defer srv.Close()
	payload := `{"specversion":"1.0","type":"dev.cdevents.service.deployed.0.2.0"}`
	signed, err := webhook.Sign(time.Now(), []byte(payload), secret)
	if err != nil {
		log.Fatal(err)
	}
	for _, sig := range []string{signed, "t=1,v1=00"} {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(payload))
		req.Header.Set("X-Shipgate-Delivery", "7")
		req.Header.Set(webhook.Header, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// verified delivery 7
	// 204
	// 401
}
