// Command goservice is the demo shop's Go hop, instrumented the way the article shows.
//
// One binary, two roles on loopback:
//
//	shipping: HTTP in (otelhttp), then an HTTP call to a downstream through a plain http.Client that
//	          injects W3C context itself (callDownstream) and a gRPC call (otelgrpc client handler).
//	rates:    a gRPC server (otelgrpc server handler) with one hand-registered method,
//	          /tracefleet.demo.Rates/Quote, whose messages are protobuf's StringValue (no protoc needed).
//
//	goservice -service shipping -http 127.0.0.1:8081 -otlp http://127.0.0.1:4318 \
//	          -http-downstream inventory=http://127.0.0.1:8082 -grpc-downstream rates=127.0.0.1:9090
//	goservice -service rates -grpc 127.0.0.1:9090 -otlp http://127.0.0.1:4318
//
// -skip-inject-to NAME makes the client for downstream NAME send no trace context: the callee then
// starts a new trace, and the caller's CLIENT span is left without a child (a broken hop that
// tempo_trace reports). Only 127.0.0.0/8 addresses are accepted.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const quoteMethod = "/tracefleet.demo.Rates/Quote"

var tracer = otel.Tracer("tracefleet.demo.goservice")

// setupTracing installs the global TracerProvider (OTLP/HTTP to otlpURL) and the W3C propagators.
func setupTracing(ctx context.Context, service, otlpURL string) (func(context.Context) error, error) {
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimRight(otlpURL, "/")+"/v1/traces"))
	if err != nil {
		return nil, err
	}
	res := resource.NewSchemaless(attribute.String("service.name", service), attribute.String("service.namespace", "shop"))
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter, sdktrace.WithBatchTimeout(500*time.Millisecond)),
		sdktrace.WithResource(res))
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return provider.Shutdown, nil
}

// callDownstream is the article's custom HTTP client: a CLIENT span, and the W3C context injected
// into the request headers through the global propagator. With inject=false the headers stay bare.
func callDownstream(ctx context.Context, client *http.Client, peer, method, route, url string, inject bool) (int, error) {
	ctx, span := tracer.Start(ctx, method+" "+route, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("peer.service", peer), attribute.String("http.request.method", method),
			attribute.String("url.full", url)))
	defer span.End()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return 0, err
	}
	span.SetAttributes(attribute.String("server.address", req.URL.Hostname()))
	if inject {
		otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	resp, err := client.Do(req)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return 0, err
	}
	defer resp.Body.Close()
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, fmt.Sprintf("%s answered %d", peer, resp.StatusCode))
	}
	return resp.StatusCode, nil
}

// newGRPCServer is the article's gRPC server: the otelgrpc stats handler makes a SERVER span per
// call from the context the caller sent.
func newGRPCServer() *grpc.Server {
	server := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler()))
	server.RegisterService(&grpc.ServiceDesc{
		ServiceName: "tracefleet.demo.Rates",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Quote", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			_, span := tracer.Start(ctx, "compute rate", trace.WithAttributes(attribute.String("shop.order_id", in.GetValue())))
			defer span.End()
			return wrapperspb.String("rate for " + in.GetValue() + ": 4.90"), nil
		}}},
	}, nil)
	return server
}

// dialGRPC connects to a gRPC peer with the otelgrpc client handler. With inject=false its
// propagator is empty, so no context goes out in the call's metadata.
func dialGRPC(peer, target string, inject bool) (*grpc.ClientConn, error) {
	opts := []otelgrpc.Option{otelgrpc.WithSpanAttributes(attribute.String("peer.service", peer))}
	if !inject {
		opts = append(opts, otelgrpc.WithPropagators(propagation.NewCompositeTextMapPropagator()))
	}
	return grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(opts...)))
}

type downstreams map[string]string

func (d downstreams) String() string { return fmt.Sprint(map[string]string(d)) }
func (d downstreams) Set(value string) error {
	name, target, ok := strings.Cut(value, "=")
	if !ok || name == "" || target == "" {
		return fmt.Errorf("want NAME=TARGET, got %q", value)
	}
	d[name] = target
	return nil
}

func loopback(address string) error {
	host := address
	if h, _, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(address, "http://"), "https://")); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a 127.0.0.0/8 address", address)
	}
	return nil
}

func main() {
	service := flag.String("service", "shipping", "service.name of this process")
	httpAddr := flag.String("http", "", "serve HTTP on this 127.0.0.1 address (POST /shipping/{id}, GET /healthz)")
	grpcAddr := flag.String("grpc", "", "serve gRPC (tracefleet.demo.Rates/Quote) on this 127.0.0.1 address")
	otlpURL := flag.String("otlp", "http://127.0.0.1:4318", "OTLP/HTTP base URL spans are sent to")
	logFile := flag.String("log-file", "", "append this process's log here (default stderr)")
	skip := flag.String("skip-inject-to", os.Getenv("GOSERVICE_SKIP_INJECT_TO"), "downstream whose client sends no trace context")
	httpDown, grpcDown := downstreams{}, downstreams{}
	flag.Var(httpDown, "http-downstream", "NAME=URL called over HTTP (GET URL/inventory/{sku}); repeatable")
	flag.Var(grpcDown, "grpc-downstream", "NAME=HOST:PORT called over gRPC (Quote); repeatable")
	flag.Parse()
	if *logFile != "" {
		out, err := os.OpenFile(*logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		log.SetOutput(out)
	}
	for _, address := range append([]string{*otlpURL, *httpAddr, *grpcAddr}, append(values(httpDown), values(grpcDown)...)...) {
		if address != "" {
			if err := loopback(address); err != nil {
				log.Fatal(err)
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	shutdown, err := setupTracing(ctx, *service, *otlpURL)
	if err != nil {
		log.Fatal(err)
	}

	var grpcServer *grpc.Server
	if *grpcAddr != "" {
		listener, err := net.Listen("tcp", *grpcAddr)
		if err != nil {
			log.Fatal(err)
		}
		grpcServer = newGRPCServer()
		go func() { _ = grpcServer.Serve(listener) }()
	}

	conns := map[string]*grpc.ClientConn{}
	for peer, target := range grpcDown {
		conn, err := dialGRPC(peer, target, peer != *skip)
		if err != nil {
			log.Fatal(err)
		}
		defer conn.Close()
		conns[peer] = conn
	}
	client := &http.Client{Timeout: 30 * time.Second} // no otelhttp transport: callDownstream propagates by hand

	var httpServer *http.Server
	if *httpAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { reply(w, 200, map[string]any{"service": *service}) })
		mux.HandleFunc("POST /shipping/{id}", func(w http.ResponseWriter, r *http.Request) {
			status, id := http.StatusOK, r.PathValue("id")
			for peer, base := range httpDown {
				url := fmt.Sprintf("%s/inventory/%s", strings.TrimRight(base, "/"), id)
				if code, err := callDownstream(r.Context(), client, peer, http.MethodGet, "/inventory/{sku}", url, peer != *skip); err != nil || code >= 500 {
					status = http.StatusBadGateway
				}
			}
			for _, conn := range conns {
				out := new(wrapperspb.StringValue)
				if err := conn.Invoke(r.Context(), quoteMethod, wrapperspb.String(id), out); err != nil {
					status = http.StatusBadGateway
				}
			}
			span := trace.SpanFromContext(r.Context())
			if status >= 500 {
				span.SetStatus(codes.Error, "downstream failed")
			}
			reply(w, status, map[string]any{"service": *service, "status": status, "trace_id": span.SpanContext().TraceID().String()})
		})
		// One SERVER span per request, named after the route, from the context the caller sent.
		handler := otelhttp.NewHandler(mux, *service,
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
				return r.Method + " " + r.Pattern[strings.Index(r.Pattern, " ")+1:]
			}),
			otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" }))
		httpServer = &http.Server{Addr: *httpAddr, Handler: handler, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := httpServer.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Fatal(err)
			}
		}()
	}

	log.Printf("%s serving (http %q, grpc %q); skip-inject-to %q", *service, *httpAddr, *grpcAddr, *skip)
	<-ctx.Done()
	done, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if httpServer != nil {
		_ = httpServer.Shutdown(done)
	}
	if grpcServer != nil {
		grpcServer.GracefulStop()
	}
	if err := shutdown(done); err != nil { // flush the spans still in the batch
		log.Print(err)
	}
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
