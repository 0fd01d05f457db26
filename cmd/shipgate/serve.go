package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shipgate/shipgate"
	"github.com/shipgate/shipgate/internal/artifactstore"
	"github.com/shipgate/shipgate/internal/checkpoint"
	"github.com/shipgate/shipgate/internal/config"
	"github.com/shipgate/shipgate/internal/durable"
	"github.com/shipgate/shipgate/internal/httpapi"
	"github.com/shipgate/shipgate/internal/leader"
	"github.com/shipgate/shipgate/internal/notify"
	"github.com/shipgate/shipgate/internal/ofrep"
	"github.com/shipgate/shipgate/internal/reconcile"
	"github.com/shipgate/shipgate/internal/runner"
	"github.com/shipgate/shipgate/internal/sqlstore"
	"github.com/shipgate/shipgate/internal/tracing"
	"github.com/shipgate/shipgate/internal/webui"
	"github.com/spf13/cobra"
)

// ServeConfig is everything `shipgate serve` is configured with.
type ServeConfig struct {
	// PolicyDir holds Rego policies loaded at start (docs/governance.md).
	PolicyDir     string
	Listen        string
	DataDir       string
	Database      string
	NoLocalRunner bool
	RunnerLabels  map[string]string
	RunnerSlots   int
	MaxBodyBytes  int64
	ShutdownGrace time.Duration
	ArtifactRoots []string
	MaxJobLog     int64
	LeaseTTL      time.Duration
	LostAfter     time.Duration
	PprofAddr     string
	ConfigFile    string

	// ArtifactStore is where the bytes releases pin are kept; empty means
	// <data>/artifacts. Servers sharing a database must share it.
	ArtifactStore string
	// MaxArtifactBytes is the largest artifact the store keeps; 0 means
	// artifactstore.DefaultMaxBytes.
	MaxArtifactBytes int64

	// MetricsListen serves the control plane's metrics (and the built-in
	// runner's router metrics) on /metrics, unauthenticated; off when
	// empty. MetricsTokenFile holds a token that unlocks /metrics on the
	// API listener (serve_metrics.go).
	MetricsListen, MetricsTokenFile string
	// MetricsDORAEvery is how often the DORA gauges are recomputed.
	MetricsDORAEvery time.Duration
	// StopServicesOnExit stops the built-in runner's supervised services
	// when the server exits, instead of leaving them for the next start.
	StopServicesOnExit bool
	// Ready, if set, is called with the listening address once the server
	// accepts requests (shipgate demo embeds the server this way).
	Ready func(addr string)
	// LogOutput receives the server's log; nil means stderr.
	LogOutput io.Writer
	// AuditKeyFile holds the audit checkpoint signing key (default
	// <data>/audit-signing.key; SHIPGATE_AUDIT_KEY overrides it), and
	// AuditCheckpointEvery is how often the audit head is signed while it
	// moves.
	AuditKeyFile         string
	AuditCheckpointEvery time.Duration
	// TLSCert and TLSKey make the server speak HTTPS; with TLSClientCA
	// agents must present a client certificate signed by that CA.
	TLSCert, TLSKey, TLSClientCA string
	// Slow clients: ReadHeaderTimeout bounds reading a request's header,
	// ReadTimeout the whole request with its body, WriteTimeout each write
	// of a response, IdleTimeout a keep-alive connection between requests.
	// 0 means the default.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (in audited refusals and their rate limit).
	TrustedProxies []netip.Prefix
	// LeaderTTL is how long the leader lease lasts without renewal
	// (PostgreSQL); 0 means leader.DefaultTTL.
	LeaderTTL time.Duration
	// UISessionLifetime is how long a web UI login lasts.
	UISessionLifetime time.Duration
	// ReplaceSecretKey, the id of a secret key lost for good, makes this
	// server's key the database's in its place (serve_keys.go).
	ReplaceSecretKey string
}

// Defaults of the slow-client bounds.
const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = time.Minute
	defaultWriteTimeout      = time.Minute
	defaultIdleTimeout       = 2 * time.Minute
)

func (m *Main) serveCommand() *cobra.Command {
	cfg := ServeConfig{}
	var labels, proxies []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: API, reconciler and a built-in local runner",
		Long: `Run the shipgate server on embedded SQLite under --data, or on PostgreSQL with --database.

On first start with an empty store it creates the user "admin" and prints
"bootstrap admin token: <token>" once. Set SHIPGATE_BOOTSTRAP_TOKEN at first start
to choose that token instead (for automation).

Secret release inputs are encrypted with a key read from SHIPGATE_SECRET_KEY
(64 hex digits) or from <data>/secret.key, which is created on first start.
Servers sharing one PostgreSQL database must share that key.

Audit checkpoints are signed with an ed25519 key read from SHIPGATE_AUDIT_KEY
(64 hex digits) or from --audit-key-file (default <data>/audit-signing.key,
created on first start). Servers sharing one database must share it too. The
public key is printed at start: record it out of band (see docs/security.md).


With --tls-cert and --tls-key the server speaks only HTTPS (the files are
read again when they change); with --tls-client-ca as well, agents must
present a client certificate signed by that CA, while people keep using
their tokens. Without TLS, listening on anything but loopback prints a
warning: put a TLS-terminating proxy in front (see docs/security.md).

Servers sharing one PostgreSQL database elect a leader through a lease
(--leader-ttl): only the leader runs the reconciler loop, notification
delivery and audit checkpoints; every server serves the API and agents.
/healthz says whether this server leads. On SQLite the server always leads.

One server runs on a --data directory (a second is refused), and one on a
SQLite database, whatever path or link reaches it (the file itself is locked).
The address is bound, --config, the keys and a PostgreSQL connection checked
before anything is created there; a start that fails later removes what it
created (a --data that did not exist, a new SQLite database), so a failed
start leaves --data as it was. release create takes artifact paths only from
--artifact-root (default: the directory the server was started in); elsewhere,
give an http(s) URL. On exit, the built-in runner's supervised services keep
running for the next start to adopt, and the log says how many; with
--stop-services-on-exit they are stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if cfg.RunnerLabels, err = parseLabels(labels); err != nil {
				return err
			}
			if err := shipgate.ValidateLabels(cfg.RunnerLabels); err != nil {
				return fmt.Errorf("--runner-labels: %s", shipgate.ErrorMessage(err))
			}
			if cfg.TrustedProxies, err = parsePrefixes(proxies); err != nil {
				return fmt.Errorf("--trusted-proxy: %w", err)
			}
			if err := checkLeaderTTL(cfg.LeaderTTL); err != nil {
				return err
			}
			if cfg.UISessionLifetime < time.Minute || cfg.UISessionLifetime > 30*24*time.Hour {
				return fmt.Errorf("--ui-session-lifetime %s: give between 1m and 720h", cfg.UISessionLifetime)
			}
			return m.serve(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&cfg.DataDir, "data", "./shipgate-data", "directory for the SQLite database, the secret key and runner work files")
	f.StringVar(&cfg.Database, "database", "", "PostgreSQL URL (postgres://…) instead of embedded SQLite")
	f.BoolVar(&cfg.NoLocalRunner, "no-local-runner", false, "do not run jobs in this process")
	f.StringSliceVar(&labels, "runner-labels", nil, "extra labels of the local runner, k=v,… (it always has shipgate.local=true)")
	f.IntVar(&cfg.RunnerSlots, "runner-slots", 4, "jobs the local runner runs at once")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", httpapi.DefaultMaxBodyBytes, "largest accepted request body")
	f.StringArrayVar(&cfg.ArtifactRoots, "artifact-root", nil, "directory artifact paths may come from (repeatable; default: the current directory); never the data directory, the server's config, key, TLS and database files, /proc, /sys or /dev")
	f.StringVar(&cfg.ArtifactStore, "artifact-store", "", "directory where the server keeps the artifact bytes releases pin (default <data>/artifacts); servers sharing a database must share it")
	f.Int64Var(&cfg.MaxArtifactBytes, "max-artifact-bytes", artifactstore.DefaultMaxBytes, "largest artifact the server stores; a larger URL artifact is pinned by digest only and agents download it, a larger path is refused")
	f.Int64Var(&cfg.MaxJobLog, "max-job-log-bytes", 10<<20, "bytes of log kept per job; the front is dropped beyond it (0: no limit)")
	f.DurationVar(&cfg.LeaseTTL, "lease-ttl", 30*time.Second, "how long a job stays with a runner that has stopped heartbeating")
	f.DurationVar(&cfg.UISessionLifetime, "ui-session-lifetime", shipgate.DefaultSessionLifetime, "how long a web UI login lasts (1m to 720h); it ends sooner at logout or when its token is revoked or its user disabled")
	f.DurationVar(&cfg.LeaderTTL, "leader-ttl", leader.DefaultTTL, "servers sharing a PostgreSQL database: how long the leader lease lasts without renewal; the leader alone runs the reconciler loop, notification delivery and audit checkpoints, and another server takes over within about this time plus a third after it dies, within a few seconds after a clean stop (renewed every third of it; 1s to 10m; ignored on SQLite)")
	f.StringVar(&cfg.ReplaceSecretKey, "replace-secret-key", "", "the id of the database's secret key (as a refused start names it; none when it recorded none), lost for good: make this server's key (SHIPGATE_SECRET_KEY or <data>/secret.key) the database's in its place. Secret inputs sealed with the old key can then never be opened; audited as key.replaced. Only that id is replaced, so the flag left in place changes nothing later")
	f.DurationVar(&cfg.LostAfter, "agent-lost-after", 45*time.Second, "how long an agent may be silent before it is shown as lost")
	f.StringVar(&cfg.PolicyDir, "policy-dir", "", "directory of Rego policies (*.rego, package shipgate.<name>) loaded at start; a file that does not compile refuses the start with file:line; a name here wins over `policy apply` (see docs/governance.md)")
	f.StringVar(&cfg.ConfigFile, "config", "", "server config file (public_url, notification sinks, token lifetime, egress policy); see docs/notifications.md and docs/security.md")
	f.BoolVar(&cfg.StopServicesOnExit, "stop-services-on-exit", false, "stop the built-in runner's supervised services when the server exits (by default they keep running and the next start adopts them)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve the control plane's metrics and the built-in runner's traffic-router metrics (Prometheus format) on /metrics at this address, without authentication: keep it private (e.g. 127.0.0.1:9450); off by default")
	f.DurationVar(&cfg.MetricsDORAEvery, "metrics-dora-every", time.Minute, "how often the DORA gauges of /metrics are recomputed from the audit chain, in the background (at least 5s)")
	f.StringVar(&cfg.MetricsTokenFile, "metrics-token-file", "", "file holding a token (16+ characters) that Prometheus sends as a bearer token to scrape /metrics on the API listener; without it /metrics is not served there")
	f.StringVar(&cfg.PprofAddr, "pprof", "", "serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060; off by default")
	f.StringVar(&cfg.AuditKeyFile, "audit-key-file", "", "audit checkpoint signing key file (default <data>/audit-signing.key; SHIPGATE_AUDIT_KEY overrides it)")
	f.DurationVar(&cfg.AuditCheckpointEvery, "audit-checkpoint-every", checkpoint.DefaultEvery, "how often the audit head is signed while it moves")
	f.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", 30*time.Second, "on SIGTERM, how long running jobs may take to finish")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM, with its chain); read again when it changes")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "the private key of --tls-cert (PEM)")
	f.StringVar(&cfg.TLSClientCA, "tls-client-ca", "", "require agents to present a client certificate signed by this CA (PEM); people still use tokens")
	f.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", defaultReadHeaderTimeout, "how long a client may take to send a request's header (and the TLS handshake)")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", defaultReadTimeout, "how long a client may take to send a whole request, body included; a slower one is disconnected")
	f.DurationVar(&cfg.WriteTimeout, "write-timeout", defaultWriteTimeout, "how long one write of a response may wait for a client that does not read; long-polls and downloads that keep moving are not cut")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", defaultIdleTimeout, "how long a keep-alive connection may stay idle between requests")
	f.StringArrayVar(&proxies, "trusted-proxy", nil, "address or CIDR of a reverse proxy whose X-Forwarded-For names the client (repeatable); off by default")
	return cmd
}

func (m *Main) serve(ctx context.Context, cfg ServeConfig) error {
	logOut := cfg.LogOutput
	if logOut == nil {
		logOut = m.Stderr
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The TLS files are checked before anything is created: a wrong path
	// must stop a first start before it bootstraps the admin.
	tlsCfg, err := serverTLS(cfg, logger)
	if err != nil {
		return err
	}
	metricsToken, err := readMetricsToken(cfg.MetricsTokenFile, cfg.MetricsDORAEvery)
	if err != nil {
		return err
	}
	// Every address is bound before anything is created, so a port in use
	// stops a first start before it prints a bootstrap token that could
	// never be used (serve_listen.go).
	listeners, err := bindServeListeners(cfg)
	if err != nil {
		return err
	}
	defer listeners.close() // on an early return; the servers close them otherwise
	ln := listeners.api
	// The config file and the flags are checked before anything is
	// created too: a typo must leave --data as it was (absent, or untouched).
	serverCfg, err := config.LoadServerConfig(cfg.ConfigFile, m.Getenv)
	if err != nil {
		return err
	}
	traces, err := tracing.Setup(ctx, m.Getenv, "shipgate") // OTEL_*, checked before anything is created
	if err != nil {
		return err
	}
	defer (&serverTracing{provider: traces}).shutdown(logger)
	// So is --policy-dir: a policy that does not compile stops the start
	// with file:line before anything is created.
	dirPolicies, err := readPolicyDir(cfg.PolicyDir)
	if err != nil {
		return err
	}
	signatures, err := signatureVerifier(serverCfg.Evidence.Signature)
	if err != nil {
		return err
	}
	if cfg.MaxArtifactBytes < 0 {
		return fmt.Errorf("--max-artifact-bytes must not be negative")
	}
	dsn := cfg.Database
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "shipgate.db")
	}
	auditKeyFile := cfg.AuditKeyFile
	if auditKeyFile == "" {
		auditKeyFile = filepath.Join(cfg.DataDir, "audit-signing.key")
	}
	// What can be checked is checked before anything is created: the
	// keys, the audit key's directory, PostgreSQL's reachability.
	if err := m.checkStart(ctx, cfg, dsn, auditKeyFile); err != nil {
		return err
	}
	// What this start creates is removed if it fails before the store
	// is ready (serve_fresh.go).
	var fresh freshPaths
	fresh.note(cfg.DataDir)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		fresh.remove()
		return fmt.Errorf("create data directory: %w", err)
	}
	// One server per data directory, and never beside admin reset-token:
	// a second one is told so before any part of it (the service
	// supervisor, the database) meets the first. A refused start removes
	// nothing: the directory is the lock holder's.
	unlock, err := lockStore(cfg.DataDir, "shipgate serve listening on "+ln.Addr().String())
	if err != nil {
		return err
	}
	// Until the store is ready, a failure closes the database and removes
	// what this start created, every lock still held; then the locks go.
	var db *sqlstore.DB
	held := []func(){unlock}
	ready := false
	defer func() {
		if db != nil {
			db.Close()
		}
		if !ready {
			fresh.remove()
		}
		for i := len(held) - 1; i >= 0; i-- {
			held[i]()
		}
	}()
	if path, ok := sqlstore.SQLitePath(dsn); ok {
		real := resolvePath(path)
		fresh.note(filepath.Dir(real))
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			fresh.note(real + suffix)
		}
		// (A serve.lock this start makes in an existing directory stays:
		// removing a lock file another process may have opened would let
		// two take it.)
		// serve.lock beside a SQLite --database elsewhere, too; and the
		// database file itself, which a link elsewhere reaches as well.
		unlockDir, err := lockDatabaseDir(dsn, cfg.DataDir)
		if err != nil {
			return err
		}
		held = append(held, unlockDir)
		unlockFile, err := lockDatabaseFile(path, true)
		if err != nil {
			return err
		}
		held = append(held, unlockFile)
	}
	if db, err = sqlstore.Open(ctx, dsn); err != nil {
		return err
	}

	key, err := durable.HexKey("secret key", "SHIPGATE_SECRET_KEY", m.Getenv("SHIPGATE_SECRET_KEY"), filepath.Join(cfg.DataDir, "secret.key"), shipgate.SecretKeySize)
	if err != nil {
		return err
	}
	box, err := shipgate.NewSecretBox(key)
	if err != nil {
		return err
	}
	auditKey, err := checkpoint.LoadKey(m.Getenv("SHIPGATE_AUDIT_KEY"), auditKeyFile)
	if err != nil {
		return err
	}
	roots := cfg.ArtifactRoots
	if len(roots) == 0 {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		roots = []string{wd}
	}
	if cfg.ArtifactStore == "" {
		cfg.ArtifactStore = filepath.Join(cfg.DataDir, "artifacts")
	}
	store, err := artifactstore.Open(cfg.ArtifactStore)
	if err != nil {
		return err
	}
	store.MaxBytes = cfg.MaxArtifactBytes // 0: the default
	resetCmd := "shipgate admin reset-token --data " + cfg.DataDir
	if cfg.Database != "" {
		resetCmd += " --database URL"
	}
	// Bootstrapping is the last step that may fail before the store is
	// ready: a printed admin token always names a store that stays.
	if err := m.bootstrap(ctx, db, serverCfg.Tokens.MaxLifetime.Std(), resetCmd); err != nil {
		return err
	}
	// Last: a start that fails earlier records no key for a data
	// directory it then removes.
	if err := sharedSecretKey(ctx, db, box, cfg, m.Getenv("SHIPGATE_SECRET_KEY") != "", logger); err != nil {
		return err
	}
	if err := sharedAuditKey(ctx, db, auditKey); err != nil {
		return err
	}
	if err := loadPolicyDir(ctx, db, cfg.PolicyDir, dirPolicies, logger); err != nil {
		return err
	}
	ready = true
	// Every request the server makes to a destination a user chose goes
	// through the egress policy of the config file.
	egressClient := serverCfg.Egress.Client(0)
	host, _ := os.Hostname()
	// Source is a URI reference (CloudEvents, CDEvents): the host name is
	// escaped as a path segment. public_url makes events' links absolute.
	enq := &notify.Enqueuer{Sinks: serverCfg.Notifications.Sinks, Source: "shipgate/" + url.PathEscape(host), PublicURL: serverCfg.PublicURL}
	worker := &notify.Worker{DB: db, Sinks: enq.Sinks, Logger: logger, MaxAttempts: serverCfg.Notifications.MaxAttempts,
		InitialBackoff: serverCfg.Notifications.InitialBackoff.Std(), MaxBackoff: serverCfg.Notifications.MaxBackoff.Std(), Client: egressClient}
	db.Outbox, db.Notified = enq.Outbox, worker.Kick
	db.CheckpointOutbox = enq.CheckpointOutbox
	bgMetrics, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMetrics()
	metrics := startMetrics(bgMetrics, db, worker, cfg, logger)

	rec := reconcile.NewReconciler(db, logger)
	work := rec.Changed
	disp := &reconcile.Dispatcher{DB: db, Secrets: box, LeaseTTL: cfg.LeaseTTL, Work: work, Reconciler: rec, MaxJobLogBytes: cfg.MaxJobLog, LostAfter: cfg.LostAfter, Signatures: signatures}
	traced, err := startTracing(ctx, traces, db, disp, logger)
	if err != nil {
		return err
	}
	ownDirs := []string{cfg.DataDir, store.Dir()}
	// The process's own descriptors: m.Stdout and m.Stderr may wrap them.
	files := m.serverFiles(cfg, auditKeyFile, dsn, os.Stdout, os.Stderr, logOut)
	sources := &artifactstore.Sources{Roots: roots, Deny: append(slices.Clone(ownDirs), files...)}
	warnWideRoots(sources, files, ownDirs, logger)
	disp.Artifacts, disp.ArtifactSources = store, sources
	db.ArtifactCheck = disp.CheckArtifact // a rollback to an artifact that cannot be deployed is refused up front
	api := httpapi.NewHandler(&httpapi.Handler{
		DB: db, Reconciler: rec, Work: work, Secrets: box, Logger: logger, MaxBodyBytes: cfg.MaxBodyBytes,
		Artifacts:  httpapi.ArtifactHasher{Roots: roots, Deny: sources.Deny, Store: store, Client: egressClient},
		Dispatcher: disp, AgentLostAfter: cfg.LostAfter,
		AuditSigner:  auditKey,
		WriteTimeout: orDefault(cfg.WriteTimeout, defaultWriteTimeout), TrustedProxies: cfg.TrustedProxies,
		RequireAgentCert: cfg.TLSClientCA != "",
	})
	api.TokenMaxLifetime = serverCfg.Tokens.MaxLifetime.Std()
	api.FreezeOverrideGroup = serverCfg.Freezes.OverrideGroup
	api.Signatures = signatures
	api.NotifySinks = []string{} // known, even when there are none
	for _, s := range serverCfg.Notifications.Sinks {
		api.NotifySinks = append(api.NotifySinks, s.Name)
	}

	scheme := "http"
	if tlsCfg != nil {
		ln, scheme = tls.NewListener(ln, tlsCfg), "https"
	} else if !loopbackOnly(ln.Addr()) {
		logger.Warn("listening on a non-loopback address without TLS: tokens, agent secrets and secret inputs cross the network in clear text; use --tls-cert and --tls-key, or a TLS-terminating proxy on this host in front of --listen 127.0.0.1:PORT", "addr", ln.Addr().String())
	}
	// No server-wide WriteTimeout: it would cut claims, which long-poll;
	// the API bounds each write instead (httpapi.Handler.WriteTimeout).
	root, err := withUI(&webui.Server{API: api, DB: db, Logger: logger, SessionLifetime: cfg.UISessionLifetime,
		TLS: tlsCfg != nil || strings.HasPrefix(serverCfg.PublicURL, "https://")}, ofrep.ForDB(db, logger))
	if err != nil {
		return err
	}
	root = withMetrics(root, metrics, metricsToken)
	srv := &http.Server{Handler: root,
		ReadHeaderTimeout: orDefault(cfg.ReadHeaderTimeout, defaultReadHeaderTimeout),
		ReadTimeout:       orDefault(cfg.ReadTimeout, defaultReadTimeout),
		IdleTimeout:       orDefault(cfg.IdleTimeout, defaultIdleTimeout),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn), // TLS handshake failures, among others
	}

	// Claiming stops on the first signal; running jobs get ShutdownGrace
	// to finish; a second signal ends the process at once.
	claimCtx, stopClaiming := context.WithCancel(context.WithoutCancel(ctx))
	hardCtx, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()
	var wg sync.WaitGroup
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	// The reconciler loop, notification delivery and the checkpoint
	// signer (which signs once more when its tenure ends) run only while
	// this server holds the leader lease (serve_leader.go).
	signer := &checkpoint.Signer{DB: db, Key: auditKey, Logger: logger, Every: cfg.AuditCheckpointEvery}
	signer.WarnOtherKey(ctx) // on every server, not only once it leads
	elector := newElector(db, cfg.LeaderTTL, cfg.DataDir, logger)
	api.IsLeader = elector.IsLeader
	wg.Add(1)
	go func() { defer wg.Done(); elector.Run(bg, leaderWork(rec.Run, worker.Run, signer.Run, traced.run)) }()
	var runnerDone chan struct{}
	var routerMetrics http.Handler
	if !cfg.NoLocalRunner {
		// Named before anything of the runner exists in --data.
		runnerName, err := localRunnerName(host, cfg.DataDir, db.Engine() == "postgres")
		if err != nil {
			stopClaiming()
			return err
		}
		logger.Info("built-in runner takes jobs", "runner", runnerName)
		labels := map[string]string{}
		for k, v := range cfg.RunnerLabels {
			labels[k] = v
		}
		labels["shipgate.local"] = "true"
		services, err := runner.OpenServices(filepath.Join(cfg.DataDir, "runner", "services"), logger)
		if err != nil {
			stopClaiming()
			return err
		}
		defer closeServices(services, cfg.StopServicesOnExit, logger)
		routerMetrics = services.MetricsHandler()
		r := &runner.Runner{
			Coord:    disp,
			Info:     shipgate.RunnerInfo{Name: runnerName, Labels: labels},
			WorkDir:  filepath.Join(cfg.DataDir, "runner"),
			Slots:    cfg.RunnerSlots,
			Logger:   logger,
			Services: services,
			// Metric providers and artifact URLs of the built-in runner are
			// fetched by the server's process: the server's policy applies.
			HTTPClient: egressClient,
			Tracer:     traced.tracer(),
		}
		api.LocalRunner = &r.Info
		runnerDone = make(chan struct{})
		go func() { defer close(runnerDone); r.Run(claimCtx, hardCtx) }()
	}
	defer serveControlMetrics(listeners.metrics, metrics, routerMetrics, logger)()
	if cfg.PprofAddr != "" {
		// A separate listener: the profiler is never reachable through the
		// API's address and needs no token, so keep it on loopback.
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		pprofSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		defer pprofSrv.Close()
		go func() {
			if err := pprofSrv.Serve(listeners.pprof); !errors.Is(err, http.ErrServerClosed) {
				logger.Warn("pprof listener ended", "err", err)
			}
		}()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(m.Stdout, "audit checkpoints are signed with %s (key id %s): record it out of band\n", auditKey.PublicKey(), auditKey.PublicKey().ID())
	fmt.Fprintf(m.Stdout, "shipgate %s listening on %s://%s (%s)\n", version, scheme, ln.Addr(), db.Engine())
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}

	select {
	case err := <-serveErr:
		stopClaiming()
		stopHard()
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down; send the signal again to stop at once")
	second := make(chan os.Signal, 1)
	signal.Notify(second, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(second)
	go func() {
		<-second
		logger.Warn("second signal: exiting now")
		os.Exit(1)
	}()
	stopClaiming()
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api.StopWaiting() // agents' long polls answer now instead of holding Shutdown up
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("http shutdown", "err", err)
	}
	if err := api.FlushRefusals(shutCtx); err != nil { // before the last checkpoint
		logger.Error("audit the refusals counted so far", "err", err)
	}
	if runnerDone != nil {
		select {
		case <-runnerDone:
		case <-time.After(cfg.ShutdownGrace):
			logger.Warn("jobs still running after the grace period; stopping them")
			stopHard()
			<-runnerDone
		}
	}
	stopBG()
	wg.Wait()
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
