# A wildcard and specific addresses on the same port share one socket (the
# wildcard's), as in nginx; each specific address keeps its own servers,
# told apart by the connection's local address.

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
worker_processes 2;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    access_log off;
    server {
        listen %%PORT_A%%;
        location / { return 200 "wildcard\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name one;
        location / { return 200 "one default\n"; }
    }
    server {
        listen 127.0.0.1:%%PORT_A%%;
        server_name two;
        location / { return 200 "two\n"; }
    }
    server {
        listen 127.0.0.2:%%PORT_A%% default_server;
        location / { return 200 "dot-two\n"; }
    }
}
EOF
$t->run(wait_ports => [['127.0.0.1', $t->port('A')]]);
my $port = $t->port('A');

sub get_at {
	my ($addr, $host) = @_;
	my $c = Portico::Test::Conn->new($port, peer => $addr) or return '';
	$c->send("GET / HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n");
	my $m = $c->read_response(timeout => 3);
	return $m ? $m->{body} : '';
}

is(get_at('127.0.0.1', 'one'), "one default\n", '127.0.0.1, Host one');
is(get_at('127.0.0.1', 'two'), "two\n", '127.0.0.1, Host two');
is(get_at('127.0.0.1', 'other'), "one default\n",
    '127.0.0.1, unknown Host: first server of that address');
is(get_at('127.0.0.2', 'two'), "dot-two\n", '127.0.0.2: its own default server');
is(get_at('127.0.0.3', 'one'), "wildcard\n",
    'other local address: the wildcard servers');

SKIP: {
	my @sockets = grep { /:$port\s/ } `ss -ltnH 2>/dev/null`;
	skip 'ss(8) not available', 1 unless @sockets;
	is(scalar(grep { !/0\.0\.0\.0:$port\s/ } @sockets), 0,
	    'only the wildcard address is bound') or diag(@sockets);
}

done_testing;
