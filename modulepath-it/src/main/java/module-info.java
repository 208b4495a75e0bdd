/**
 * A user's module: it reads meshlet's proxies as named modules, as an application on the module
 * path does. Its tests are patched into it, so they run with the modules' real boundaries.
 */
module dev.meshlet.modulepath.it {
  requires dev.meshlet.l4;
  requires dev.meshlet.l7;
  requires dev.meshlet.admin;
  requires java.net.http;
  requires jdk.httpserver;
}
