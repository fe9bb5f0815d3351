/**
 * The clients only a launch (or the reconciler) needs: the EC2 launcher and the GitHub client, with
 * the EC2 client's schema and Octokit behind them, most of a handler's code. The runtime imports
 * this module on first use, and `npm run build` makes it a chunk of its own beside each handler's
 * `index.js` (`launch-clients-<hash>.js`): a delivery that launches nothing (`in_progress`,
 * `completed`, `ping`) never reads, parses or evaluates it.
 */
export { createEc2Launcher } from './ec2-launcher';
export { createGitHubClient } from './github';
