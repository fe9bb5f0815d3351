// Environment for every test file: this machine runs Node 20, the Lambdas run 22; the SDK's notice
// about that is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
