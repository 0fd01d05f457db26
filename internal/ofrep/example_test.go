package ofrep_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	ofrepprovider "github.com/open-feature/go-sdk-contrib/providers/ofrep"
	"github.com/open-feature/go-sdk/openfeature"
)

// An application evaluates shipgate's flags with the OpenFeature Go SDK
// and its OFREP provider: the provider points at the shipgate server and
// presents an SDK key (shipgate flag key create --env production). This
// is the code docs/flags.md shows; TestOpenFeatureSDKConformance
// (cmd/shipgate) runs the same calls against a real server.
func Example_openFeatureGoSDK() {
	provider := ofrepprovider.NewProvider("https://shipgate.example.com",
		ofrepprovider.WithBearerToken(os.Getenv("SHIPGATE_SDK_KEY")),
		ofrepprovider.WithClient(&http.Client{Timeout: 2 * time.Second}))
	if err := openfeature.SetProviderAndWait(provider); err != nil {
		fmt.Println(err)
		return
	}
	client := openfeature.NewClient("checkout")

	user := openfeature.NewEvaluationContext("user-42", map[string]any{
		"country":     "DE",
		"app_version": "2.4.1",
	})
	// The default (false) is what the application gets when shipgate
	// cannot answer; a killed flag answers its safe variant (reason
	// STATIC, metadata disabled: true).
	if client.Boolean(context.Background(), "new-checkout", false, user) {
		fmt.Println("new checkout")
	}
	details, err := client.StringValueDetails(context.Background(), "shop/banner", "Welcome", user)
	if err != nil {
		fmt.Println("fell back:", details.ErrorCode, details.ErrorMessage)
	}
	fmt.Println(details.Value, details.Variant, details.Reason)
}
