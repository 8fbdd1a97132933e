# $proxy_host (and so the default Host sent upstream) leaves out the
# scheme's default port, as nginx does, and keeps any other port.

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
    access_log off;
    server {
        listen 127.0.0.1:%%PORT_A%%;
        # nothing listens on 127.0.0.9:80: the 502 shows $proxy_host
        location /default/ {
            proxy_pass http://127.0.0.9:80/;
            proxy_connect_timeout 2s;
            error_page 502 504 = /show;
        }
        location /other/ { proxy_pass http://127.0.0.1:%%PORT_B%%/; }
        location = /show { return 200 "$proxy_host"; }
    }
}
EOF
$t->http_backend('B', handler => sub {
	my ($r) = @_;
	return (200, [], $r->{h}{host} // '-');
});
$t->run;
my $port = $t->port('A');

like(Portico::Test::http_get($port, '/default/x') // '', qr/\r\n\r\n127\.0\.0\.9$/,
    ':80 is left out of $proxy_host');
my $pb = $t->port('B');
like(Portico::Test::http_get($port, '/other/x') // '', qr/\r\n\r\n127\.0\.0\.1:$pb$/,
    'another port is kept in the Host sent upstream');

done_testing;
