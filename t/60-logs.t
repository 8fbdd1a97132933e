# Logs: the default combined format, a custom log_format using the
# variables engine (values and formats as nginx's), escaping,
# access_log off, error_log level filtering.

use strict;
use warnings;
use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(sleep);
use Portico::Test;

my @VARS = qw(remote_addr request status body_bytes_sent request_time
    upstream_addr upstream_status http_user_agent arg_x cookie_y host
    request_length connection connection_requests upstream_response_time
    time_iso8601 msec pid hostname scheme server_port request_uri uri args
    request_method remote_port server_addr bytes_sent time_local
    upstream_connect_time upstream_header_time);
my $FMT = join '|', map { "\$$_" } @VARS;

my $t = Portico::Test->new;
$t->write_conf(<<"EOF");
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    log_format t '$FMT';
    server {
        listen 127.0.0.1:%%PORT_A%%;
        access_log logs/t.log t;
        access_log logs/combined.log;
        location / { return 200 "ret\\n"; }
        location /p/ { proxy_pass http://127.0.0.1:%%PORT_B%%; }
        location /nolog { access_log off; return 200 "quiet\\n"; }
        location /missing { return 404; }
    }
}
EOF
$t->http_backend('B', handler => sub { (200, [], 'hello') });
$t->run;
my $port = $t->port('A');
my ($worker) = $t->worker_pids;

# the line of <log> that contains <marker>, parsed by @VARS
sub logline {
	my ($log, $marker) = @_;
	my $line = '';
	wait_until(sub {
		($line) = grep { /\Q$marker\E/ } split /\n/, $t->read_file($log);
		defined $line;
	}, 5);
	return $line // '';
}

sub fields {
	my ($line) = @_;
	my @v = split /\|/, $line, -1;
	my %f;
	@f{@VARS} = @v;
	return \%f;
}

# a proxied request on a keep-alive connection, then a second one
my $c = Portico::Test::Conn->new($port);
my $cport = $c->sock->sockport;
my $req1 = "GET /p/path?x=42&z=1 HTTP/1.1\r\nHost: example.test\r\n"
    . "User-Agent: test-agent/1.0\r\nCookie: a=1; y=cookieval; b=2\r\n"
    . "Referer: http://ref.example/\r\n\r\n";
my $before = time;
$c->send($req1);
my $m1 = $c->read_response(timeout => 5) // {};
my $req2 = "GET /second?other=1 HTTP/1.1\r\nHost: example.test\r\n\r\n";
$c->send($req2);
my $m2 = $c->read_response(timeout => 5) // {};
my $after = time;
$c->close;
is($m1->{body}, 'hello', 'proxied response');
is($m2->{body}, "ret\n", 'second response');

my $f = fields(logline('logs/t.log', '/p/path'));
is($f->{remote_addr}, '127.0.0.1', '$remote_addr');
is($f->{remote_port}, $cport, '$remote_port');
is($f->{request}, 'GET /p/path?x=42&z=1 HTTP/1.1', '$request');
is($f->{request_method}, 'GET', '$request_method');
is($f->{status}, 200, '$status');
is($f->{body_bytes_sent}, 5, '$body_bytes_sent');
is($f->{bytes_sent}, length($m1->{raw} // ''), '$bytes_sent = bytes received');
like($f->{request_time}, qr/^\d+\.\d{3}$/, '$request_time format');
is($f->{upstream_addr}, '127.0.0.1:' . $t->port('B'), '$upstream_addr');
is($f->{upstream_status}, 200, '$upstream_status');
like($f->{upstream_response_time}, qr/^\d+\.\d{3}$/, '$upstream_response_time');
like($f->{upstream_connect_time}, qr/^\d+\.\d{3}$/, '$upstream_connect_time');
like($f->{upstream_header_time}, qr/^\d+\.\d{3}$/, '$upstream_header_time');
is($f->{http_user_agent}, 'test-agent/1.0', '$http_user_agent');
is($f->{arg_x}, 42, '$arg_x');
is($f->{cookie_y}, 'cookieval', '$cookie_y');
is($f->{host}, 'example.test', '$host');
is($f->{request_length}, length $req1, '$request_length');
like($f->{connection}, qr/^\d+$/, '$connection');
is($f->{connection_requests}, 1, '$connection_requests (1st)');
like($f->{time_iso8601}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/,
    '$time_iso8601 format');
like($f->{msec}, qr/^\d{10}\.\d{3}$/, '$msec format');
ok($f->{msec} >= $before - 1 && $f->{msec} <= $after + 1, '$msec is now');
is($f->{pid}, $worker, '$pid is the worker');
is($f->{hostname}, (POSIX::uname())[1], '$hostname');
is($f->{scheme}, 'http', '$scheme');
is($f->{server_port}, $port, '$server_port');
is($f->{server_addr}, '127.0.0.1', '$server_addr');
is($f->{request_uri}, '/p/path?x=42&z=1', '$request_uri');
is($f->{uri}, '/p/path', '$uri');
is($f->{args}, 'x=42&z=1', '$args');
like($f->{time_local}, qr{^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$},
    '$time_local format');

my $g = fields(logline('logs/t.log', '/second'));
is($g->{connection}, $f->{connection}, 'same $connection on keep-alive');
is($g->{connection_requests}, 2, '$connection_requests (2nd)');
is($g->{upstream_addr}, '-', 'no upstream: $upstream_addr is -');
is($g->{upstream_status}, '-', 'no upstream: $upstream_status is -');
is($g->{arg_x}, '-', 'absent argument: -');
is($g->{cookie_y}, '-', 'absent cookie: -');
is($g->{http_user_agent}, '-', 'absent header: -');
is($g->{body_bytes_sent}, 4, '$body_bytes_sent of a return');

# combined
{
	my $line = logline('logs/combined.log', '/p/path');
	my $re = qr{^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /p/path\?x=42&z=1 HTTP/1\.1" 200 5 "http://ref\.example/" "test-agent/1\.0"$};
	like($line, $re, 'combined format');
}

# escaping of unsafe bytes, as nginx: \xHH
{
	http_get($port, '/esc', headers => ["User-Agent: a\"b\\c\xffe"]);
	my $h = fields(logline('logs/t.log', '/esc'));
	is($h->{http_user_agent}, 'a\x22b\x5Cc\xFFe', 'unsafe bytes escaped');
}

# a request rejected by the parser is logged too (as nginx does)
{
	http($port, "GET /rejected HTTP/1.1\r\nHost: localhost\r\n"
	    . "Content-Length: 1\r\nContent-Length: 2\r\n\r\n", wait_close => 1);
	my $h = fields(logline('logs/t.log', '/rejected'));
	is($h->{status}, 400, 'rejected request logged with 400');
}

# status of a return 404, access_log off
{
	http_get($port, '/missing');
	my $h = fields(logline('logs/t.log', '/missing'));
	is($h->{status}, 404, '$status 404');
	http_get($port, '/nolog');
	http_get($port, '/after-nolog');
	logline('logs/t.log', '/after-nolog');
	logline('logs/combined.log', '/after-nolog');
	unlike($t->read_file('logs/t.log'), qr{GET /nolog HTTP}, 'access_log off (t)');
	unlike($t->read_file('logs/combined.log'), qr/\/nolog /,
	    'access_log off (combined)');
	my @lines = split /\n/, $t->read_file('logs/t.log');
	is(scalar(grep { !/^127\.0\.0\.1\|/ } @lines), 0,
	    'every t.log line is complete');
}

###########################################################################
# error_log levels

sub level_conf {
	my ($level) = @_;
	return <<"EOF";
daemon off;
worker_processes 1;
pid logs/portico.pid;
error_log logs/error.log $level;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    client_body_timeout 1s;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location /x { proxy_pass http://127.0.0.1:%%PORT_DEAD%%; }
        location / { proxy_pass http://127.0.0.1:%%PORT_SLOW%%; }
    }
}
EOF
}

for my $level ('error', 'info') {
	my $e = Portico::Test->new;
	$e->write_conf(level_conf($level));
	$e->raw_backend('SLOW', sub { sleep 5 }, read => 0);
	$e->run;
	http_get($e->port('A'), '/x');			# 502: an [error]
	my $c = Portico::Test::Conn->new($e->port('A'));
	# a client body timeout: [info]
	$c->send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc");
	$c->closed(4);
	$e->wait_for_log('logs/error.log', qr/\[error\]/, 3);
	sleep 0.3;
	my $log = $e->read_file('logs/error.log');
	like($log, qr/\[error\].*/, "error_log $level: errors logged");
	if ($level eq 'error') {
		unlike($log, qr/\[(info|notice|debug)\]/,
		    'error_log error: no info or notice lines');
	} else {
		like($log, qr/\[info\]/, 'error_log info: info lines');
		unlike($log, qr/\[debug\]/, 'error_log info: no debug lines');
	}
	$e->stop;
}

done_testing;
