// Command pluginfront stands between the Pulumi engine and a Python policy pack and answers,
// in Go, the per-resource calls whose answer needs no Python: the engine makes them one at a
// time, on its serial path, for every resource of a preview, and a Python gRPC round trip
// costs several times a Go one (docs/engine.md, "The plugin front").
//
//	pluginfront analyzer -- <command> [args...]
//	pluginfront analyzer --upstream 127.0.0.1:<port>
//
// It starts the command and reads the port the plugin announces on its first line of
// stdout, or is given the address of a pack already served (by the language host, in its
// own process). It announces its own port in the same way, and forwards every call, byte
// for byte, except Analyze and Remediate when the pack declares no resource policy (asked
// once, from the pack's own GetAnalyzerInfo): such a pack answers both with nothing.
//
// Lifetime: it dies with its parent (PR_SET_PDEATHSIG) and the plugin dies with it; a
// signal is passed on to the plugin, and the front exits with the plugin's status. With
// --upstream there is no plugin to wait for: SIGINT or SIGTERM ends the front with 0.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"
)

// As Pulumi's own plugins allow: a stack-wide call (AnalyzeStack) carries every resource.
const maxMessage = 1 << 30

const (
	analyzerAnalyze   = "/pulumirpc.Analyzer/Analyze"
	analyzerRemediate = "/pulumirpc.Analyzer/Remediate"
	analyzerInfo      = "/pulumirpc.Analyzer/GetAnalyzerInfo"
)

// frame is one message as bytes: forwarded calls are never decoded.
type frame struct{ b []byte }

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.(*frame).b, nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	v.(*frame).b = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

type front struct {
	upstream *grpc.ClientConn

	once       sync.Once
	onlyStacks bool // analyzer: the pack has no resource policy
}

// answersItself says whether the front answers a per-resource call itself (with the empty
// response, which encodes to zero bytes) instead of forwarding it.
func (f *front) answersItself(ctx context.Context) bool {
	f.once.Do(func() { f.onlyStacks = f.stackPoliciesOnly(ctx) })
	return f.onlyStacks
}

// stackPoliciesOnly asks the pack for its policies; any doubt forwards every call.
func (f *front) stackPoliciesOnly(ctx context.Context) bool {
	var info pulumirpc.AnalyzerInfo
	if err := f.upstream.Invoke(ctx, analyzerInfo, &emptypb.Empty{}, &info); err != nil {
		return false
	}
	for _, p := range info.GetPolicies() {
		if p.GetPolicyType() != pulumirpc.PolicyType_POLICY_TYPE_STACK {
			return false
		}
	}
	return true
}

// outgoing is the caller's metadata minus what gRPC sets itself on the next hop.
func outgoing(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{}
	for k, v := range md {
		if strings.HasPrefix(k, ":") || strings.HasPrefix(k, "grpc-") ||
			k == "content-type" || k == "user-agent" || k == "te" {
			continue
		}
		out[k] = v
	}
	return metadata.NewOutgoingContext(ctx, out)
}

// handle serves every method: a local answer for the few above, else a byte-for-byte
// stream to the plugin (unary calls are streams of one message each way).
func (f *front) handle(_ any, ss grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(ss)
	var first *frame
	if method == analyzerAnalyze || method == analyzerRemediate {
		first = &frame{}
		if err := ss.RecvMsg(first); err != nil {
			return err
		}
		if f.answersItself(ss.Context()) {
			return ss.SendMsg(&frame{[]byte{}})
		}
	}

	ctx, cancel := context.WithCancel(outgoing(ss.Context()))
	defer cancel()
	cs, err := f.upstream.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true},
		method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	go func() {
		if first != nil {
			if cs.SendMsg(first) != nil {
				return
			}
		}
		for {
			var m frame
			if err := ss.RecvMsg(&m); err != nil {
				if errors.Is(err, io.EOF) {
					_ = cs.CloseSend()
				} else {
					cancel()
				}
				return
			}
			if cs.SendMsg(&m) != nil {
				return
			}
		}
	}()
	headerSent := false
	for {
		var m frame
		if err := cs.RecvMsg(&m); err != nil {
			ss.SetTrailer(cs.Trailer())
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err // the plugin's status, passed on as is
		}
		if !headerSent {
			if h, err := cs.Header(); err == nil {
				_ = ss.SendHeader(h)
			}
			headerSent = true
		}
		if err := ss.SendMsg(&m); err != nil {
			return err
		}
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "error: plugin front: "+format+"\n", args...)
	os.Exit(3)
}

func main() {
	// Pdeathsig is tied to the thread that starts the child: keep this goroutine on it.
	runtime.LockOSThread()
	// Die with the parent (the engine, or the language host that started the pack).
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0)

	args := os.Args[1:]
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	var (
		address string
		exited  <-chan int
		later   io.Reader // the plugin's output after its port
	)
	switch {
	case len(args) == 3 && args[0] == "analyzer" && args[1] == "--upstream":
		address = args[2]
		stopped := make(chan int, 1)
		go func() {
			<-signals
			stopped <- 0 // nothing of ours to stop: the pack's server belongs to our parent
		}()
		exited = stopped
	case len(args) >= 3 && args[0] == "analyzer" && args[1] == "--":
		var port int
		port, later, exited = start(args[2:], signals)
		address = fmt.Sprintf("127.0.0.1:%d", port)
	default:
		fail("usage: pluginfront analyzer -- <plugin command> [args...]\n" +
			"       pluginfront analyzer --upstream 127.0.0.1:<port>")
	}

	conn, err := grpc.NewClient(address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)))
	if err != nil {
		fail("%v", err)
	}
	f := &front{upstream: conn}
	server := grpc.NewServer(
		grpc.UnknownServiceHandler(f.handle),
		grpc.ForceServerCodec(rawCodec{}),
		grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage),
	)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("cannot listen on the loopback: %v", err)
	}
	go func() { _ = server.Serve(listener) }()
	fmt.Printf("%d\n", listener.Addr().(*net.TCPAddr).Port)
	if later != nil {
		// The plugin's later output goes where the engine reads the front's.
		go func() { _, _ = io.Copy(os.Stdout, later) }()
	}
	os.Exit(<-exited)
}

// start runs the plugin command, passes signals on to it, and returns the port it
// announces, its later output, and its exit status when it exits.
func start(command []string, signals <-chan os.Signal) (int, io.Reader, <-chan int) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		fail("%v", err)
	}
	if err := cmd.Start(); err != nil {
		fail("cannot start %s: %v", command[0], err)
	}
	go func() {
		for s := range signals {
			_ = cmd.Process.Signal(s)
		}
	}()
	out := bufio.NewReader(pipe)
	line, readErr := out.ReadString('\n')
	port, convErr := strconv.Atoi(strings.TrimSpace(line))
	if readErr != nil || convErr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		fail("%s did not announce a port (first line %q)", command[0], line)
	}
	exited := make(chan int, 1)
	go func() {
		err := cmd.Wait()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
			if status, ok := exit.Sys().(syscall.WaitStatus); ok && status.Signaled() {
				code = 128 + int(status.Signal()) // as a shell reports it
			}
		}
		exited <- code
	}()
	return port, out, exited
}
