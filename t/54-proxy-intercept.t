# proxy_intercept_errors: an upstream answer >= 300 with an error_page for
# its code is replaced by the error page (keeping the status unless "="
# says otherwise); other answers, and all answers with the directive off,
# pass unchanged.

use strict;
use warnings;
use Test::More;
use Portico::Test;

my $t = Portico::Test->new;
$t->write_conf(<<'EOF');
daemon off;
pid logs/portico.pid;
error_log logs/error.log info;
events { worker_connections 64; }
http {
    %%NGINX_ONLY%%
    log_format us '$uri $status $upstream_status';
    access_log logs/us.log us;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        location /on/ {
            proxy_pass http://127.0.0.1:%%PORT_B%%;
            proxy_intercept_errors on;
            error_page 404 /page404;
            error_page 503 =200 /page503;
        }
        location /off/ {
            proxy_pass http://127.0.0.1:%%PORT_B%%;
            error_page 404 /page404;
        }
        location = /page404 { return 200 "our 404 page\n"; }
        location = /page503 { return 200 "our 503 page\n"; }
    }
}
EOF
$t->http_backend('B', handler => sub {
	my ($r) = @_;
	my ($code) = $r->{uri} =~ m{/(\d{3})$};
	$code //= 200;
	return ($code, ['X-From' => 'upstream'], "upstream body $code\n");
});
$t->run;
my $port = $t->port('A');

sub get { Portico::Test::parse_response(Portico::Test::http_get($port, shift) // '') // {} }

my $m = get('/on/404');
is($m->{status}, 404, 'intercepted: the upstream status is kept');
is($m->{body}, "our 404 page\n", 'intercepted: the error page body');
ok(!defined $m->{h}{'x-from'}, 'intercepted: no upstream field leaks');

$m = get('/on/503');
is($m->{status}, 200, '=200 overrides the status');
is($m->{body}, "our 503 page\n", '=200: the error page body');

$m = get('/on/500');
is($m->{status}, 500, 'no error_page for 500: passed on');
is($m->{body}, "upstream body 500\n", 'no error_page for 500: upstream body');

$m = get('/on/200');
is($m->{body}, "upstream body 200\n", 'a 200 passes');

$m = get('/off/404');
is($m->{status}, 404, 'directive off: 404 passed on');
is($m->{body}, "upstream body 404\n", 'directive off: upstream body');

# $uri is the error page's by then, as in nginx
like($t->wait_for_log('logs/us.log', qr{^/page404 \d+ \d+$}m, 3), qr{^/page404 404 404$},
    '$upstream_status is logged for an intercepted answer');

done_testing;
