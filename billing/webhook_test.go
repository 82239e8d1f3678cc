package billing

import (
	"net/netip"
	"testing"

	"github.com/shopspring/decimal"
)

func TestCheckWebhookURL(t *testing.T) {
	tests := []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://hooks.example.com/outcomebill", false, true},
		{"http://hooks.example.com:8080/x?y=1", false, true},
		{"ftp://hooks.example.com/", true, false},
		{"hooks.example.com/x", true, false},
		{"https://", true, false},
		{"https://user:pw@hooks.example.com/", true, false},
		{"https://hooks.example.com/#frag", true, false},
		{"http://127.0.0.1:9999/hook", false, false},
		{"http://127.0.0.1:9999/hook", true, true},
		{"http://localhost/hook", false, false},
		{"http://localhost/hook", true, true},
		{"http://10.1.2.3/", false, false},
		{"http://192.168.0.10/", false, false},
		{"http://169.254.169.254/latest/meta-data", false, false},
		{"http://[::1]:80/", false, false},
		{"http://[::ffff:127.0.0.1]/", false, false},
		{"http://100.64.0.1/", false, false},
		{"http://0.0.0.0/", false, false},
		{"http://8.8.8.8/", false, true},
	}
	for _, tt := range tests {
		err := CheckWebhookURL(tt.url, tt.allowPrivate)
		if (err == nil) != tt.ok {
			t.Errorf("CheckWebhookURL(%q, %v) = %v, want ok=%v", tt.url, tt.allowPrivate, err, tt.ok)
		}
		if err != nil && ErrorCode(err) != EINVALID {
			t.Errorf("CheckWebhookURL(%q): code %q", tt.url, ErrorCode(err))
		}
	}
	if !PrivateAddr(netip.MustParseAddr("fd00::1")) || PrivateAddr(netip.MustParseAddr("2001:4860::8888")) {
		t.Error("PrivateAddr misjudges IPv6")
	}
}

func TestWebhookEndpointCheck(t *testing.T) {
	e := WebhookEndpoint{URL: "https://x.example/", Events: []string{"invoice.voided", "task.billable", "invoice.voided"}}
	if err := e.Check(false); err != nil {
		t.Fatal(err)
	}
	if len(e.Events) != 2 || e.Events[0] != "invoice.voided" {
		t.Errorf("events = %v, want sorted and deduplicated", e.Events)
	}
	if !e.Subscribes("task.billable") || e.Subscribes("invoice.drafted") {
		t.Error("Subscribes ignores the event list")
	}
	if !(WebhookEndpoint{}).Subscribes("credits.low") {
		t.Error("an endpoint with no events must receive all")
	}
	bad := WebhookEndpoint{URL: "https://x.example/", Events: []string{"task.started"}}
	if err := bad.Check(false); ErrorField(err) != "events" {
		t.Errorf("unknown event type: %v", err)
	}
}

func TestTaskWebhookType(t *testing.T) {
	tests := []struct {
		prev, next TaskStatus
		want       string
	}{
		{TaskVerifying, TaskBillable, WebhookTaskBillable},
		{TaskOpen, TaskNotBillable, WebhookTaskNotBillable},
		{TaskBillable, TaskNotBillable, WebhookTaskNotBillable}, // a late dispute
		{TaskBillable, TaskBillable, ""},
		{TaskOpen, TaskVerifying, ""},
		{TaskOpen, TaskExpired, ""},
	}
	for _, tt := range tests {
		if got := TaskWebhookType(tt.prev, tt.next); got != tt.want {
			t.Errorf("TaskWebhookType(%s, %s) = %q, want %q", tt.prev, tt.next, got, tt.want)
		}
	}
}

func TestAlertFires(t *testing.T) {
	d := decimal.RequireFromString
	spend := Alert{Kind: AlertSpend, Threshold: d("100")}
	low := Alert{Kind: AlertPrepaidBalance, Threshold: d("50")}
	floor := Alert{Kind: AlertMarginFloor, Threshold: d("20")}
	for _, tt := range []struct {
		a     Alert
		value string
		want  bool
	}{
		{spend, "99.99", false}, {spend, "100", true}, {spend, "250", true},
		{low, "50", false}, {low, "49.99", true}, {low, "0", true},
		// A margin exactly at the floor is not below it; a negative margin is.
		{floor, "20", false}, {floor, "19.99", true}, {floor, "-35.5", true}, {floor, "80", false},
	} {
		if got := tt.a.Fires(d(tt.value)); got != tt.want {
			t.Errorf("%s alert at %s: Fires(%s) = %v", tt.a.Kind, tt.a.Threshold, tt.value, got)
		}
	}
}

func TestAlertCheck(t *testing.T) {
	d := decimal.RequireFromString
	for _, tt := range []struct {
		a     Alert
		field string // "" when valid
	}{
		{Alert{Kind: AlertSpend, Threshold: d("5000")}, ""},
		{Alert{Kind: AlertPrepaidBalance, Threshold: d("0")}, ""},
		{Alert{Kind: AlertMarginFloor, Threshold: d("20")}, ""},
		{Alert{Kind: AlertMarginFloor, Threshold: d("0")}, ""},
		{Alert{Kind: AlertMarginFloor, Threshold: d("100")}, ""},
		// A floor is a percentage of revenue: above 100 it could never be met.
		{Alert{Kind: AlertMarginFloor, Threshold: d("120")}, "threshold"},
		{Alert{Kind: AlertMarginFloor, Threshold: d("-5")}, "threshold"},
		{Alert{Kind: AlertSpend, Threshold: d("-1")}, "threshold"},
		{Alert{Kind: "margin", Threshold: d("1")}, "kind"},
		{Alert{Kind: "", Threshold: d("1")}, "kind"},
	} {
		err := tt.a.Check()
		if ErrorField(err) != tt.field || (tt.field == "" && err != nil) {
			t.Errorf("%s at %s: Check() = %v, want field %q", tt.a.Kind, tt.a.Threshold, err, tt.field)
		}
	}
	for k, want := range map[AlertKind]string{AlertSpend: WebhookSpendThreshold, AlertPrepaidBalance: WebhookCreditsLow,
		AlertMarginFloor: WebhookMarginBelowFloor} {
		if got := k.WebhookType(); got != want {
			t.Errorf("%s sends %s, want %s", k, got, want)
		}
	}
}
